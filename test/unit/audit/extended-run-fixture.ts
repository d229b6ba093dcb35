// An audited soft-label run that finished, was extended and finished again (as the aggregator does when restarted with more rounds).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDatabase } from '../../../server/run-database.ts';
import { encodePublicKey, generateIdentity, type Identity } from '../../../shared/crypto/identity.ts';
import { PrivacyLedger } from '../../../shared/privacy/ledger.ts';
import type { PrivacyEvent } from '../../../shared/privacy/events.ts';
import { float32Step } from '../../../shared/privacy/grid-gaussian.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { buildReleaseData } from '../../../shared/audit/release-data.ts';
import { exportAuditLog } from '../../../shared/audit/audit-export.ts';
import type { GaussianRowsRecord, MechanismParams } from '../../../shared/audit/mechanism-record.ts';

export const EXT_RUN = 'ext';
export const GRID = 2 ** -20;
const COLS = 10;
const CLIP = 1;
const ROWS = 20;
const TEACHERS = 10;
export const EXT_PARAMS: MechanismParams = { kind: 'gaussian_rows', clip: CLIP, noise_multiplier: 4, teachers_per_site: TEACHERS, domain: 'probabilities', rows_per_round: ROWS, cols: COLS, grid: GRID };

/** What one release's mechanism record says, as the aggregator writes it; `withoutUlp` leaves out the transport rounding (a smaller sensitivity). */
export function extRecord(withoutUlp = false): GaussianRowsRecord {
  const ulp = float32Step(TEACHERS * CLIP);
  const sensitivity = Math.SQRT2 * CLIP + (GRID + (withoutUlp ? 0 : ulp)) * Math.sqrt(COLS);
  return {
    kind: 'gaussian_rows', rows: ROWS, cols: COLS, clip: CLIP, noise_std: 4 * CLIP, sensitivity, domain: 'probabilities', grid: GRID,
    ...(withoutUlp ? {} : { transport_ulp: ulp }), adjacency: 'replace-one',
  };
}

export interface ExtendedRun {
  dir: string;
  dbPath: string;
  identity: Identity;
  publicKey: string;
  db: RunDatabase;
  ledger: PrivacyLedger;
  /** seq of the first run_finished (the end of the run before it was extended). */
  firstFinishSeq: number;
  /** Writes an export (head-signed unless `signed` is false) and returns its path. */
  exportTo: (name: string, signed?: boolean) => string;
  close: () => void;
}

export interface ExtendedRunOptions {
  /** The ε each run_finished reports (default: the ledger's, as the aggregator writes it). */
  finishEpsilon?: (spent: number, which: number) => number;
  /** Releases record their mechanism without transport_ulp. */
  withoutUlp?: boolean;
}

/**
 * run_started, release, run_finished (complete), then the extension: release, run_finished.
 * Every charge goes through a real PrivacyLedger on the same SQLite database as the log.
 */
export function buildExtendedRun(options: ExtendedRunOptions = {}): ExtendedRun {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-audit-ext-'));
  let tick = Date.parse('2025-05-01T08:00:00.000Z');
  const now = () => new Date((tick += 1000));
  const dbPath = join(dir, 'agg.db');
  const db = new RunDatabase(dbPath, { now });
  const identity = generateIdentity();
  const store = new SqliteAuditStore(db.sqlite);
  const audit = new AuditLog(store, identity, { now });
  const ledger = new PrivacyLedger(db, { now });
  const scope = `run:${EXT_RUN}`;
  const budget = { epsilon: 1000, delta: 1e-5 };
  ledger.setBudget(scope, budget);
  db.createRun(EXT_RUN, '{}', 'h');
  audit.append({ kind: 'run_started', runId: EXT_RUN, data: { budgets: { [scope]: budget }, delta: budget.delta, mechanism_params: EXT_PARAMS } });
  const mechanism = extRecord(options.withoutUlp);
  const event: PrivacyEvent = { type: 'gaussian', noise_multiplier: mechanism.noise_std / mechanism.sensitivity, count: ROWS };
  let firstFinishSeq = -1;
  for (const [which, round] of [0, 1].entries()) {
    db.transaction(() => {
      const c = ledger.tryCharge(event, { scope: [scope], note: `round ${round}` });
      if (c.status !== 'accepted') throw new Error('fixture charge refused');
      audit.append({ kind: 'release', runId: EXT_RUN, round, data: buildReleaseData(event, c.epsilon, { mechanism }) });
    });
    const spent = ledger.spent(scope);
    const epsilon = options.finishEpsilon ? options.finishEpsilon(spent.epsilon, which) : spent.epsilon;
    const e = audit.append({ kind: 'run_finished', runId: EXT_RUN, data: { status: 'complete', epsilon, delta: spent.delta } });
    if (which === 0) firstFinishSeq = e.seq;
  }
  return {
    dir, dbPath, identity, publicKey: encodePublicKey(identity.publicKey), db, ledger, firstFinishSeq,
    exportTo: (name, signed = true) => {
      const p = join(dir, name);
      writeFileSync(p, exportAuditLog(store, EXT_RUN, signed ? identity : undefined));
      return p;
    },
    close: () => { try { db.close(); } catch { /* already closed */ } rmSync(dir, { recursive: true, force: true }); },
  };
}
