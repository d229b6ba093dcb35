// Which sites a round may still charge: a site whose own scope (spent in earlier runs too) cannot afford the round is left out.
import type { AuditLog } from '../shared/audit/audit-log.ts';
import type { PrivacyEvent } from '../shared/privacy/events.ts';
import type { ChargeResult, PrivacyBudget, PrivacyLedger } from '../shared/privacy/ledger.ts';
import type { RunDatabase } from './run-database.ts';
import { SITE_SCOPE } from './site-scopes.ts';

/** The notice an excluded site gets, and the code its log line and the docs name. */
export const SITE_SCOPE_EXHAUSTED = 'E_SITE_SCOPE_EXHAUSTED';

type Refusal = Extract<ChargeResult, { status: 'refused' }>;

export interface SiteBudgetsOptions {
  db: Pick<RunDatabase, 'transaction' | 'atomically'>;
  ledger: PrivacyLedger;
  runId: string;
  runScope: string;
  /** What one round charges at most before any site answered (the run's privacy plan: exact for soft labels, PATE's worst case). */
  roundEvent: PrivacyEvent;
  /**
   * Stop the run before querying when its scope cannot pay `roundEvent` (runRefusal). True except
   * with PATE's data-dependent accounting, whose charges, and so whose stop, depend on the votes
   * anyway (docs/privacy.md): there a round that may still fit is run, and charged or refused after.
   * Default true.
   */
  stopBeforeQuerying?: boolean;
  audit?: AuditLog;
  log: (line: string) => void;
  /** Tells a live site why it is left out (a notice in its session); false when it is not connected. */
  notify: (site: string, code: string, message: string) => boolean;
}

/**
 * A site's scope `site:<name>` is charged in every run it takes part in, so in a later run on the
 * same database it can run out before the run scope does. Such a site is left out of the run's
 * rounds (logged, audited as `budget_refused` naming its scope, and told once) and the other sites
 * go on. A site is left out for the rest of the run: nothing charges its scope in this run after
 * that, so it cannot afford a later round either. Projections use the ledger's own check (a charge
 * tried and rolled back), so they agree with the charge that would be refused.
 */
export class SiteBudgets {
  private readonly o: SiteBudgetsOptions;
  /** Sites left out, with why (the refusal), for the rest of this run. */
  private readonly excluded = new Map<string, Refusal>();
  /** Excluded sites that were told so in a session. */
  private readonly told = new Set<string>();

  constructor(o: SiteBudgetsOptions) {
    this.o = o;
  }

  /** The sites left out so far, sorted. */
  get excludedSites(): string[] {
    return [...this.excluded.keys()].sort();
  }

  /**
   * Whether the run scope can pay round `round`'s most expensive charge (`roundEvent`), checked before
   * any site is asked. When it cannot and `o.stopBeforeQuerying`, the refusal is logged and audited
   * (`budget_refused` for the run scope, at the worst case's projected ε: nothing about the data) and
   * returned: the run stops there. Deciding after the round ran would make the stop, and the ε the
   * refusal records, depend on the data: a PATE round's actual charge grows with the queries its
   * noisy threshold lets through, and a refused round is charged nothing.
   */
  runRefusal(round: number): Refusal | undefined {
    const p = this.project(this.o.runScope);
    if (p.status === 'accepted' || this.o.stopBeforeQuerying === false) return undefined;
    this.o.log(`round ${round + 1}: the run's budget cannot pay for another round (${p.reason}); stopping the run before querying`);
    this.o.audit?.append({ kind: 'budget_refused', runId: this.o.runId, round, data: budgetRefusedData(p) });
    return p;
  }

  /**
   * The sites of `sites` whose scope can afford round `round`'s charge. A site is left out only when
   * the run scope could pay: when the run itself cannot (only with data-dependent accounting, see
   * runRefusal), every site is asked and the run's own refusal at charge time ends it. Excluded
   * sites in `live` are told (once).
   */
  affordable(round: number, sites: readonly string[], live: readonly string[]): string[] {
    const runFits = this.project(this.o.runScope).status === 'accepted';
    const able: string[] = [];
    for (const site of sites) {
      if (!this.excluded.has(site) && runFits && this.hasBudget(site)) {
        const p = this.project(SITE_SCOPE(site));
        if (p.status === 'refused') this.exclude(round, site, p, 'before querying it');
      }
      if (!this.excluded.has(site)) able.push(site);
    }
    for (const site of live) this.tell(round, site);
    return able;
  }

  /** A participant's scope refused the round's actual charge: it is left out from now on (logged, audited, told). */
  refusedAtCharge(round: number, site: string, refusal: Refusal): void {
    this.exclude(round, site, refusal, 'from the aggregate (its reply is discarded; the others are aggregated again with fresh noise)');
    this.tell(round, site);
  }

  /** Whether `scope` is a site's scope (not the run's). */
  siteOf(scope: string): string | undefined {
    return scope !== this.o.runScope && scope.startsWith(SITE_SCOPE('')) ? scope.slice(SITE_SCOPE('').length) : undefined;
  }

  private exclude(round: number, site: string, r: Refusal, when: string): void {
    this.excluded.set(site, r);
    this.o.log(`round ${round + 1}: ${SITE_SCOPE_EXHAUSTED}: site ${site} left out ${when}: ${r.reason}; the other sites go on`);
    this.o.audit?.append({ kind: 'budget_refused', runId: this.o.runId, round, site, data: budgetRefusedData(r) });
  }

  private tell(round: number, site: string): void {
    const r = this.excluded.get(site);
    if (!r || this.told.has(site)) return;
    const message = `round ${round + 1}: this site is left out of run ${this.o.runId} from now on: its budget on the aggregator's ledger (${r.scope}, ε = ${r.budget.epsilon} at δ = ${r.budget.delta}, spent in this and earlier runs) cannot pay for another round (it would reach ε = ${r.projectedEpsilon}); the other sites go on. Nothing more from this site is aggregated in this run`;
    if (this.o.notify(site, SITE_SCOPE_EXHAUSTED, message.slice(0, 500))) this.told.add(site);
  }

  /** A site scope gets its budget at the site's first join; one without (never joined) has spent nothing. */
  private hasBudget(site: string): boolean {
    return this.o.db.atomically((tx) => tx.getBudget(SITE_SCOPE(site))) !== undefined;
  }

  /** The ledger's verdict on charging the round to `scope`, without charging it: the charge is tried, then rolled back. */
  private project(scope: string): ChargeResult {
    try {
      this.o.db.transaction(() => { throw new DryRun(this.o.ledger.tryCharge(this.o.roundEvent, { scope })); });
    } catch (e) {
      if (e instanceof DryRun) return e.result;
      throw e;
    }
    throw new Error('unreachable: a dry-run charge always rolls back');
  }
}

/** Carries a tried charge out of the transaction it rolls back. */
class DryRun extends Error {
  constructor(readonly result: ChargeResult) { super('dry-run charge, rolled back'); }
}

/**
 * A `budget_refused` entry's data: the scope, the ε the charge would have reached and the budget.
 * The audit log holds JSON only: an ε with no finite value (every order overflowed) is written as
 * null, where Infinity would make the append, and the transaction around it, throw.
 */
export function budgetRefusedData(r: Refusal): { scope: string; projected_epsilon: number | null; budget: PrivacyBudget } {
  return { scope: r.scope, projected_epsilon: Number.isFinite(r.projectedEpsilon) ? r.projectedEpsilon : null, budget: { ...r.budget } };
}
