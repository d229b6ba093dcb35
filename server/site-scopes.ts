// A run's record of its sites: each site's budget scope and join, written to the run's audit log once the run exists.
import type { PrivacyLedger } from '../shared/privacy/ledger.ts';
import type { AuditLog } from '../shared/audit/audit-log.ts';
import type { RunDatabase } from './run-database.ts';
import type { RunConfig } from './run-config.ts';

export const SITE_SCOPE = (site: string) => `site:${site}`;

/**
 * A site's scope gets the run's budget the first time it ever joins. Each run's audit log
 * records the scope once, before its first release there: its budget, and the charges it
 * carries in from earlier runs on this ledger (the site's data is the same data), so that an
 * auditor replaying this run alone gets the ε the aggregator reports. Sites that join before
 * the run record exists are written when the run starts (`runStarted`). A site's join is logged
 * once per run and key (across restarts too): a site that reconnects, joins and leaves in a loop
 * cannot grow the signed log without bound.
 */
export class RunSites {
  /** Each joined site's key, for its site_joined audit entry. */
  private readonly keys = new Map<string, { public_key: string; fingerprint: string }>();
  private scopesInLog?: Set<string>;
  /** `site\nkey` of every site_joined entry in this run's log. */
  private joinsInLog?: Set<string>;

  constructor(private readonly o: { db: RunDatabase; config: RunConfig; ledger: PrivacyLedger; audit?: AuditLog }) {}

  /** A site joined (or rejoined after leaving): its scope, and its first join with this key, enter the log. */
  joined(site: string, key: { public_key: string; fingerprint: string }, first: boolean): void {
    this.ensureBudget(site);
    if (!first) return;
    this.keys.set(site, key);
    this.logJoin(site);
  }

  /** The run record now exists: sites that joined before it enter its log. */
  runStarted(sites: Iterable<string>): void {
    for (const site of sites) { this.ensureBudget(site); this.logJoin(site); }
  }

  private runExists(): boolean {
    return !!this.o.audit && !!this.o.db.getRun(this.o.config.runId);
  }

  private ensureBudget(site: string): void {
    const { db, config, ledger } = this.o;
    const scope = SITE_SCOPE(site);
    const known = db.atomically((tx) => tx.getBudget(scope));
    const budget = known ?? { epsilon: config.privacy.epsilon, delta: config.privacy.delta };
    const log = this.runExists() && !this.loggedScopes().has(scope);
    if (known && !log) return;
    const earlier = log ? ledger.events(scope) : [];
    db.transaction(() => {
      if (!known) ledger.setBudget(scope, budget);
      if (!log) return;
      this.o.audit!.append({ kind: 'config_change', runId: config.runId, site, data: {
        budgets: { [scope]: budget },
        ...(earlier.length ? { carried: { [scope]: { type: 'composed', events: earlier } } } : {}),
      } });
    });
    if (log) this.loggedScopes().add(scope);
  }

  private logJoin(site: string): void {
    const data = this.keys.get(site);
    if (!data || !this.runExists()) return;
    const id = joinId(site, data.public_key);
    if (this.loggedJoins().has(id)) return;
    this.o.audit!.append({ kind: 'site_joined', runId: this.o.config.runId, site, data });
    this.loggedJoins().add(id);
  }

  /** Joins this run's audit log already holds (read once: a restarted aggregator does not log them again). */
  private loggedJoins(): Set<string> {
    if (!this.joinsInLog) {
      this.joinsInLog = new Set();
      for (const e of this.o.audit?.entries(this.o.config.runId) ?? []) {
        const key = (e.data as { public_key?: unknown }).public_key;
        if (e.kind === 'site_joined' && e.site && typeof key === 'string') this.joinsInLog.add(joinId(e.site, key));
      }
    }
    return this.joinsInLog;
  }

  /** Scopes this run's audit log has declared (budgets in run_started / config_change entries). */
  private loggedScopes(): Set<string> {
    if (!this.scopesInLog) {
      this.scopesInLog = new Set();
      for (const e of this.o.audit?.entries(this.o.config.runId) ?? []) {
        if (e.kind !== 'run_started' && e.kind !== 'config_change') continue;
        const budgets = (e.data as { budgets?: Record<string, unknown> }).budgets ?? {};
        for (const scope of Object.keys(budgets)) this.scopesInLog.add(scope);
      }
    }
    return this.scopesInLog;
  }
}

function joinId(site: string, publicKey: string): string {
  return `${site}\n${publicKey}`;
}
