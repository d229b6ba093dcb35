// Builds a small audited run in a temp dir: a real RunDatabase, PrivacyLedger charges, signed audit entries, site ledgers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDatabase } from '../../../server/run-database.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { generateIdentity, type Identity } from '../../../shared/crypto/identity.ts';
import { PrivacyLedger, type PrivacyBudget } from '../../../shared/privacy/ledger.ts';
import type { PrivacyEvent } from '../../../shared/privacy/events.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { buildReleaseData } from '../../../shared/audit/release-data.ts';
import { exportAuditLog } from '../../../shared/audit/audit-export.ts';
import { siteValueDigest } from '../../../shared/audit/site-map-budget.ts';
import type { MechanismParams, MechanismRecord } from '../../../shared/audit/mechanism-record.ts';

export const RUN = 'r1';
export const SITES = ['a', 'b'] as const;
/** Central event charged per release: Confident-GNMax, 50 queries, 30 answered (data-independent bounds). */
export const CENTRAL: PrivacyEvent = { type: 'composed', events: [{ type: 'pate_threshold', sigma: 150, count: 50 }, { type: 'pate_gnmax', sigma: 40, count: 30 }] };
/** The mechanism each release records: what CENTRAL costs. */
export const CENTRAL_MECHANISM: MechanismRecord = { kind: 'confident_gnmax', queries: 50, answered: 30, threshold: 200, sigma1: 150, sigma2: 40, accounting: 'data-independent', adjacency: 'replace-one' };
/** What run_started declares the run's mechanism to be (as the aggregator writes it from its config). */
export const CENTRAL_PARAMS: MechanismParams = { kind: 'confident_gnmax', threshold: 200, sigma1: 150, sigma2: 40, accounting: 'data-independent' };
/** What each site records for its reply: local Gaussian noise. */
export const SITE_EVENT: PrivacyEvent = { type: 'gaussian', noise_multiplier: 2 };
/** A charge no budget can take: the last round is refused. */
export const TOO_BIG: PrivacyEvent = { type: 'gaussian', noise_multiplier: 0.05 };
export const BUDGET: PrivacyBudget = { epsilon: 50, delta: 1e-5 };
export const RELEASED_ROUNDS = 3;

export interface FixtureOptions {
  /** The site event the aggregator logs (default: what the site sent). */
  loggedSiteEvent?: (site: string, round: number, sent: PrivacyEvent) => PrivacyEvent;
  /** The ε the aggregator reports per scope (default: the ledger's). */
  reportEpsilon?: (scope: string, epsilon: number, round: number) => number;
  /** The mechanism a release records (default CENTRAL_MECHANISM; undefined: none). */
  mechanism?: (round: number) => MechanismRecord | undefined;
  /** Releases record no mechanism at all (a log written by another tool). */
  omitMechanism?: boolean;
  /** run_started's mechanism_params (default CENTRAL_PARAMS; null: not declared). Untyped, so tests can write malformed ones. */
  mechanismParams?: unknown;
  /** The event each released round charges (default CENTRAL). */
  central?: PrivacyEvent;
  /** Rounds each site records beyond what the aggregator ran (a site claiming more releases). */
  extraSiteRounds?: number[];
  /** The request id a site records (default `q-<round>-<site>`, which names no site; the aggregator's form is `<run>.r<round>.<site>`). */
  requestId?: (site: string, round: number) => string;
  /** The releases name every site's event by its digest (site_events_omitted), as the aggregator does for events too large for the entry. */
  omitSiteEvents?: boolean;
  /** A site the aggregator asked in a released round but did not aggregate: out of the release's site events, and `failures` of its round_result (with `participants` as given, default the others). */
  notAggregated?: { site: string; round: number; participants?: string[] };
}

export interface AuditFixture {
  dir: string;
  dbPath: string;
  db: RunDatabase;
  identity: Identity;
  ledger: PrivacyLedger;
  auditLog: AuditLog;
  store: SqliteAuditStore;
  siteLedgerPath: (site: string) => string;
  /** Writes the export (head-signed) and returns its path. */
  exportTo: (name?: string) => string;
  close: () => void;
}

/** A run of 3 released rounds, 1 round refused for budget, then run_finished. The db stays open until close(). */
export function buildAuditRun(options: FixtureOptions = {}): AuditFixture {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-audit-'));
  let tick = Date.parse('2025-03-01T12:00:00.000Z');
  const now = () => new Date((tick += 1000));
  const dbPath = join(dir, 'agg.db');
  const db = new RunDatabase(dbPath, { now });
  const identity = generateIdentity();
  const store = new SqliteAuditStore(db.sqlite);
  const auditLog = new AuditLog(store, identity, { now });
  const ledger = new PrivacyLedger(db, { now });
  const scopes = [`run:${RUN}`, ...SITES.map((s) => `site:${s}`)];
  for (const s of scopes) ledger.setBudget(s, BUDGET);
  db.createRun(RUN, '{}', 'h');
  const params = options.mechanismParams === undefined ? CENTRAL_PARAMS : options.mechanismParams;
  auditLog.append({ kind: 'run_started', runId: RUN, data: {
    budgets: Object.fromEntries(scopes.map((s) => [s, BUDGET])), delta: BUDGET.delta, strategy: 'confident-gnmax',
    ...(params !== null ? { mechanism_params: params } : {}),
  } });
  const siteLedgers = new Map(SITES.map((s) => [s, new SiteLedger(join(dir, `site-${s}.ledger.jsonl`))]));
  for (const s of SITES) { db.recordSite(RUN, s, `key-${s}`); auditLog.append({ kind: 'site_joined', runId: RUN, site: s, data: { public_key: `key-${s}` } }); }
  for (let round = 0; round <= RELEASED_ROUNDS; round++) {
    db.startRound(RUN, round);
    for (const s of SITES) siteLedgers.get(s)!.record({ runId: RUN, round, requestId: options.requestId ? options.requestId(s, round) : `q-${round}-${s}`, replyKind: 'votes', rows: 50, event: SITE_EVENT });
    const event = round < RELEASED_ROUNDS ? options.central ?? CENTRAL : TOO_BIG;
    db.transaction(() => {
      const c = ledger.tryCharge(event, { scope: scopes, note: `round ${round}` });
      if (c.status === 'refused') {
        auditLog.append({ kind: 'budget_refused', runId: RUN, round, data: { scope: c.scope, projected_epsilon: c.projectedEpsilon, budget: c.budget } });
        return;
      }
      db.insertRelease(RUN, round, 'labels', Uint8Array.of(round), { round }, [...SITES]);
      const eps = Object.fromEntries(Object.entries(c.epsilon).map(([s, e]) => [s, options.reportEpsilon ? options.reportEpsilon(s, e, round) : e]));
      const na = options.notAggregated?.round === round ? options.notAggregated : undefined;
      const siteEvents = Object.fromEntries(SITES.filter((s) => s !== na?.site).map((s) => [s, options.loggedSiteEvent ? options.loggedSiteEvent(s, round, SITE_EVENT) : SITE_EVENT]));
      const logged = options.omitSiteEvents
        ? { site_events: {}, site_events_omitted: Object.fromEntries(Object.entries(siteEvents).map(([site, e]) => [site, siteValueDigest(e)])) }
        : { site_events: siteEvents };
      auditLog.append({ kind: 'release', runId: RUN, round, data: buildReleaseData(event, eps, {
        ...logged, queries_answered: 30, queries_refused: 20,
        ...((m) => (m && !options.omitMechanism ? { mechanism: m } : {}))(options.mechanism ? options.mechanism(round) : CENTRAL_MECHANISM),
      }) });
    });
    const na = options.notAggregated?.round === round ? options.notAggregated : undefined;
    auditLog.append({ kind: 'round_result', runId: RUN, round, data: { accuracy: 0.5 + round / 10,
      ...(na ? { participants: na.participants ?? SITES.filter((s) => s !== na.site), failures: [{ site: na.site, reason: 'timeout' }] } : {}) } });
  }
  for (const round of options.extraSiteRounds ?? []) {
    for (const s of SITES) siteLedgers.get(s)!.record({ runId: RUN, round, requestId: `x-${round}-${s}`, replyKind: 'votes', rows: 50, event: SITE_EVENT });
  }
  auditLog.append({ kind: 'run_finished', runId: RUN, data: { status: 'budget_exhausted' } });
  return {
    dir, dbPath, db, identity, ledger, auditLog, store,
    siteLedgerPath: (s) => join(dir, `site-${s}.ledger.jsonl`),
    exportTo: (name = 'r1.audit.jsonl') => {
      const p = join(dir, name);
      writeFileSync(p, exportAuditLog(store, RUN, identity));
      return p;
    },
    close: () => { try { db.close(); } catch { /* already closed */ } rmSync(dir, { recursive: true, force: true }); },
  };
}
