// The aggregator's embedded store (SQLite): runs, sites, rounds, releases, privacy ledger, metrics, checkpoints.
//
// Durability: WAL journal with synchronous=FULL, so a transaction that returned is on disk
// and survives kill -9. A release and its privacy charge are written in one transaction.
// A server holds `<file>-lock` exclusively while it runs, so a second server on the same file
// is refused at once (the OS drops the lock when the process dies, kill -9 included).
import Database from 'better-sqlite3';
import { canonicalPath, type FileLock, tryLockFile } from '../shared/util/file-lock.ts';
import type { LedgerEntry, LedgerStore, LedgerTransaction, PrivacyBudget } from '../shared/privacy/ledger.ts';
import type { PrivacyEvent } from '../shared/privacy/events.ts';
import { FedistillError } from '../shared/util/errors.ts';

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, config_json TEXT NOT NULL, config_hash TEXT NOT NULL,
  status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sites (
  run_id TEXT NOT NULL, site TEXT NOT NULL, public_key TEXT NOT NULL,
  first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, PRIMARY KEY (run_id, site));
CREATE TABLE IF NOT EXISTS rounds (
  run_id TEXT NOT NULL, round INTEGER NOT NULL, status TEXT NOT NULL,
  participants_json TEXT NOT NULL DEFAULT '[]', metrics_json TEXT NOT NULL DEFAULT '{}',
  started_at TEXT NOT NULL, ended_at TEXT, PRIMARY KEY (run_id, round));
CREATE TABLE IF NOT EXISTS releases (
  run_id TEXT NOT NULL, round INTEGER NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL,
  summary_json TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (run_id, round));
CREATE TABLE IF NOT EXISTS budgets (
  scope TEXT PRIMARY KEY, epsilon REAL NOT NULL, delta REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
  scope TEXT NOT NULL, seq INTEGER NOT NULL, event_json TEXT NOT NULL, at TEXT NOT NULL, note TEXT,
  PRIMARY KEY (scope, seq));
CREATE TABLE IF NOT EXISTS metrics (
  run_id TEXT NOT NULL, round INTEGER NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY (run_id, round, source, name));
CREATE TABLE IF NOT EXISTS checkpoints (
  run_id TEXT NOT NULL, name TEXT NOT NULL, round INTEGER NOT NULL, blob BLOB NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY (run_id, name));
`;

export interface RunRow { runId: string; configJson: string; configHash: string; status: string; createdAt: string; updatedAt: string }
export interface ReleaseRow { runId: string; round: number; kind: string; payload: Buffer; summary: Record<string, unknown>; createdAt: string }

/**
 * What a SQLite failure means for the operator, as a FedistillError with a stable code, or the
 * error itself when it is not SQLite's. Used at open and for writes that fail mid-run (disk full,
 * read-only file), so the user gets one line that says what to do, never an internal error.
 */
export function databaseError(e: unknown, path: string): unknown {
  const code = (e as { code?: unknown })?.code;
  if (e instanceof FedistillError || typeof code !== 'string' || !code.startsWith('SQLITE_')) return e;
  const why = (e as Error).message;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return new FedistillError('E_DB_OPEN', `${path} is not a fedistill database (${why}); pass the aggregator's database file, or a new path`, { cause: e });
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new FedistillError('E_DB_LOCKED', `database ${path} is in use by another process (${why}); stop the other fedistill server, or give this run another database`, { cause: e });
  if (code.startsWith('SQLITE_FULL')) return new FedistillError('E_DB_WRITE', `database ${path}: the disk is full; nothing was half-written: free space and restart with the same config to resume`, { cause: e });
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM')) {
    return new FedistillError('E_DB_WRITE', `database ${path} cannot be written (${why}); check that its folder is writable`, { cause: e });
  }
  return new FedistillError('E_DB_WRITE', `database ${path}: ${why} (${code}); the last committed round is kept: fix the cause and restart with the same config to resume`, { cause: e });
}

/**
 * Whether `e` is a write the database refused for good (disk full, I/O error, read-only, a file that
 * cannot be opened or is damaged, out of memory): a run cannot go on after it. databaseError names it.
 */
export function isDatabaseWriteFailure(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && (code === 'E_DB_WRITE' || /^SQLITE_(IOERR|FULL|READONLY|CANTOPEN|PERM|CORRUPT|NOTADB|NOMEM)/.test(code));
}

export interface RunDatabaseOptions {
  now?: () => Date;
  /** Hold `<path>-lock` for as long as this is open, refusing a second holder (servers set it). */
  exclusive?: boolean;
  /** Open an existing file read-only (a reader beside a running server, `privacy plan`): nothing is written, no lock is taken. */
  readonly?: boolean;
}

/**
 * One SQLite file holding every run of an aggregator. Implements `LedgerStore` so the privacy
 * ledger's check-and-append is a SQLite transaction (nested inside a release's when called from one).
 */
export class RunDatabase implements LedgerStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly lock: FileLock | undefined;
  private readonly now: () => string;
  /** The file holds fedistill's tables (false only for a file opened read-only before any server wrote it). */
  readonly initialised: boolean = false;

  constructor(path: string, options: RunDatabaseOptions = {}) {
    this.path = path;
    let lock: FileLock | undefined;
    let db: Database.Database | undefined;
    try {
      // the lock sits beside the file itself: another path to it (a symlink, `..`) must find the same lock
      if (options.exclusive && path !== ':memory:') {
        lock = tryLockFile(path);
        if (!lock) throw new FedistillError('E_DB_LOCKED', `database ${path} is in use by another fedistill server (it holds ${canonicalPath(path)}-lock); stop that server first, or give this run another database`);
      }
      db = options.readonly ? new Database(path, { readonly: true, fileMustExist: true }) : new Database(path);
      // Before anything writes to it: a file from a newer fedistill is left exactly as it was.
      const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get();
      this.initialised = hasMeta !== undefined;
      const v = hasMeta ? db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined : undefined;
      if (v && Number(v.value) !== SCHEMA_VERSION) {
        const newer = Number(v.value) > SCHEMA_VERSION;
        throw new FedistillError('E_DB_SCHEMA', `database ${path} has schema version ${v.value}; this fedistill reads version ${SCHEMA_VERSION}: ${newer ? 'upgrade fedistill to open it' : 'open it with the fedistill version that wrote it'}`);
      }
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
        db.exec(SCHEMA);
        if (!v) db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
        this.initialised = true;
      }
    } catch (e) {
      db?.close();
      lock?.release();
      const mapped = databaseError(e, path);
      if (mapped instanceof FedistillError && mapped.code !== 'E_DB_WRITE') throw mapped;
      throw new FedistillError('E_DB_OPEN', `cannot open database ${path}: ${(e as Error).message}; check that its folder exists and is writable`, { cause: e });
    }
    this.db = db;
    this.lock = lock;
    const clock = options.now ?? (() => new Date());
    this.now = () => clock().toISOString();
  }

  close(): void {
    this.db.close();
    this.lock?.release();
  }

  /** The underlying connection, for modules that keep their own tables in the run's file (the audit log). */
  get sqlite(): Database.Database {
    return this.db;
  }

  /** Runs fn in one transaction (a savepoint when nested). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- LedgerStore --------------------------------------------------------------------------

  atomically<T>(fn: (tx: LedgerTransaction) => T): T {
    const db = this.db;
    const tx: LedgerTransaction = {
      getBudget: (scope) => {
        const r = db.prepare('SELECT epsilon, delta FROM budgets WHERE scope = ?').get(scope) as PrivacyBudget | undefined;
        return r ? { epsilon: r.epsilon, delta: r.delta } : undefined;
      },
      setBudget: (scope, b) => {
        db.prepare('INSERT INTO budgets (scope, epsilon, delta) VALUES (?, ?, ?) ON CONFLICT(scope) DO UPDATE SET epsilon = excluded.epsilon, delta = excluded.delta').run(scope, b.epsilon, b.delta);
      },
      count: (scope) => (db.prepare('SELECT COUNT(*) AS n FROM ledger WHERE scope = ?').get(scope) as { n: number }).n,
      entries: (scope, from = 0) =>
        (db.prepare('SELECT scope, seq, event_json, at, note FROM ledger WHERE scope = ? AND seq >= ? ORDER BY seq').all(scope, from) as
          { scope: string; seq: number; event_json: string; at: string; note: string | null }[]).map(toEntry),
      append: (entry) => {
        const seq = tx.count(entry.scope);
        db.prepare('INSERT INTO ledger (scope, seq, event_json, at, note) VALUES (?, ?, ?, ?, ?)').run(entry.scope, seq, JSON.stringify(entry.event), entry.at, entry.note ?? null);
        return { ...entry, seq };
      },
    };
    return this.db.transaction(() => fn(tx))();
  }

  /** Every ledger entry of a scope, for export and audit replay. */
  ledgerEntries(scope: string): LedgerEntry[] {
    return this.atomically((tx) => tx.entries(scope));
  }

  // ---- runs ---------------------------------------------------------------------------------

  getRun(runId: string): RunRow | undefined {
    const r = this.db.prepare('SELECT * FROM runs WHERE run_id = ?').get(runId) as Record<string, string> | undefined;
    return r && { runId: r.run_id!, configJson: r.config_json!, configHash: r.config_hash!, status: r.status!, createdAt: r.created_at!, updatedAt: r.updated_at! };
  }

  createRun(runId: string, configJson: string, configHash: string): RunRow {
    const t = this.now();
    this.db.prepare('INSERT INTO runs (run_id, config_json, config_hash, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)').run(runId, configJson, configHash, 'running', t, t);
    return this.getRun(runId)!;
  }

  setRunStatus(runId: string, status: string): void {
    this.db.prepare('UPDATE runs SET status = ?, updated_at = ? WHERE run_id = ?').run(status, this.now(), runId);
  }

  // ---- sites --------------------------------------------------------------------------------

  recordSite(runId: string, site: string, publicKey: string): void {
    const t = this.now();
    this.db.prepare('INSERT INTO sites (run_id, site, public_key, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id, site) DO UPDATE SET last_seen = excluded.last_seen, public_key = excluded.public_key').run(runId, site, publicKey, t, t);
  }

  sites(runId: string): { site: string; publicKey: string }[] {
    return (this.db.prepare('SELECT site, public_key FROM sites WHERE run_id = ? ORDER BY site').all(runId) as { site: string; public_key: string }[]).map((r) => ({ site: r.site, publicKey: r.public_key }));
  }

  // ---- rounds and releases -------------------------------------------------------------------

  startRound(runId: string, round: number): void {
    this.db.prepare(`INSERT INTO rounds (run_id, round, status, started_at) VALUES (?, ?, 'open', ?) ON CONFLICT(run_id, round) DO UPDATE SET status = CASE WHEN rounds.status = 'open' THEN 'open' ELSE rounds.status END`).run(runId, round, this.now());
  }

  roundStatus(runId: string, round: number): string | undefined {
    return (this.db.prepare('SELECT status FROM rounds WHERE run_id = ? AND round = ?').get(runId, round) as { status: string } | undefined)?.status;
  }

  /** The last round whose release was recorded (−1 when none). */
  lastReleasedRound(runId: string): number {
    const r = this.db.prepare('SELECT MAX(round) AS r FROM releases WHERE run_id = ?').get(runId) as { r: number | null };
    return r.r ?? -1;
  }

  /** The last round marked complete (−1 when none). */
  lastCompletedRound(runId: string): number {
    const r = this.db.prepare(`SELECT MAX(round) AS r FROM rounds WHERE run_id = ? AND status = 'complete'`).get(runId) as { r: number | null };
    return r.r ?? -1;
  }

  /**
   * Attempts of a round that ended without a release, over every start of the server: a restarted
   * run asks the next attempt's request ids, never ones sites already answered and a restarted site
   * could only refuse (E_QUERY_REPLAYED). Kept in `meta`, so the schema is unchanged.
   */
  failedAttempts(runId: string, round: number): number {
    const r = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(attemptsKey(runId, round)) as { value: string } | undefined;
    const n = Number(r?.value ?? 0);
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  setFailedAttempts(runId: string, round: number, attempts: number): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(attemptsKey(runId, round), String(attempts));
  }

  /** Records a release (call inside the same transaction as its privacy charge). Refuses a second release of a round. */
  insertRelease(runId: string, round: number, kind: string, payload: Uint8Array, summary: Record<string, unknown>, participants: string[]): void {
    this.db.prepare('INSERT INTO releases (run_id, round, kind, payload, summary_json, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(runId, round, kind, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), JSON.stringify(summary), this.now());
    this.db.prepare(`UPDATE rounds SET status = 'released', participants_json = ? WHERE run_id = ? AND round = ?`).run(JSON.stringify(participants), runId, round);
  }

  getRelease(runId: string, round: number): ReleaseRow | undefined {
    const r = this.db.prepare('SELECT * FROM releases WHERE run_id = ? AND round = ?').get(runId, round) as Record<string, any> | undefined;
    return r && { runId: r.run_id, round: r.round, kind: r.kind, payload: r.payload, summary: JSON.parse(r.summary_json), createdAt: r.created_at };
  }

  releases(runId: string): ReleaseRow[] {
    return (this.db.prepare('SELECT * FROM releases WHERE run_id = ? ORDER BY round').all(runId) as Record<string, any>[]).map((r) => ({ runId: r.run_id, round: r.round, kind: r.kind, payload: r.payload, summary: JSON.parse(r.summary_json), createdAt: r.created_at }));
  }

  completeRound(runId: string, round: number, metrics: Record<string, number>): void {
    this.db.prepare(`UPDATE rounds SET status = 'complete', metrics_json = ?, ended_at = ? WHERE run_id = ? AND round = ?`).run(JSON.stringify(metrics), this.now(), runId, round);
  }

  // ---- metrics and checkpoints ----------------------------------------------------------------

  putMetrics(runId: string, round: number, source: string, values: Record<string, number>): void {
    const st = this.db.prepare('INSERT INTO metrics (run_id, round, source, name, value) VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id, round, source, name) DO UPDATE SET value = excluded.value');
    this.transaction(() => { for (const [k, v] of Object.entries(values)) if (Number.isFinite(v)) st.run(runId, round, source, k, v); });
  }

  metrics(runId: string): { round: number; source: string; name: string; value: number }[] {
    return this.db.prepare('SELECT round, source, name, value FROM metrics WHERE run_id = ? ORDER BY round, source, name').all(runId) as { round: number; source: string; name: string; value: number }[];
  }

  putCheckpoint(runId: string, name: string, round: number, blob: Uint8Array): void {
    this.db.prepare('INSERT INTO checkpoints (run_id, name, round, blob, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id, name) DO UPDATE SET round = excluded.round, blob = excluded.blob, created_at = excluded.created_at').run(runId, name, round, Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength), this.now());
  }

  getCheckpoint(runId: string, name: string): { round: number; blob: Buffer } | undefined {
    return this.db.prepare('SELECT round, blob FROM checkpoints WHERE run_id = ? AND name = ?').get(runId, name) as { round: number; blob: Buffer } | undefined;
  }
}

function toEntry(r: { scope: string; seq: number; event_json: string; at: string; note: string | null }): LedgerEntry {
  return { scope: r.scope, seq: r.seq, event: JSON.parse(r.event_json) as PrivacyEvent, at: r.at, ...(r.note !== null ? { note: r.note } : {}) };
}

function attemptsKey(runId: string, round: number): string {
  return `failed_attempts:${runId}:${round}`;
}
