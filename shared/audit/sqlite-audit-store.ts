// The audit log's SQLite table, kept in the aggregator's run database so an entry commits with the release it records.
import type Database from 'better-sqlite3';
import { FedistillError } from '../util/errors.ts';
import type { AuditEntry, AuditEntryKind } from './audit-entry.ts';
import { canonicalJson } from './canonical-json.ts';

// Triggers make the table append-only for ordinary SQL; the hash chain and signatures are what
// make tampering *evident* when someone bypasses them (drops a trigger, edits the file).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_log (
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL,
  round INTEGER, site TEXT, data_json TEXT NOT NULL,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL, signature TEXT NOT NULL,
  PRIMARY KEY (run_id, seq));
CREATE TABLE IF NOT EXISTS audit_keys (run_id TEXT PRIMARY KEY, public_key TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
`;

interface AuditRow {
  run_id: string; seq: number; at: string; kind: string; round: number | null; site: string | null;
  data_json: string; prev_hash: string; hash: string; signature: string;
}

/** Where an AuditLog keeps its entries. Every method is synchronous so appends fit in a caller's transaction. */
export interface AuditStore {
  /** Runs fn atomically (a savepoint when the caller already has a transaction open). */
  atomically<T>(fn: () => T): T;
  /** The last entry's seq and hash, or undefined for a run with no entries. */
  head(runId: string): { seq: number; hash: string } | undefined;
  insert(entry: AuditEntry): void;
  /** The key (base64) a run's entries are signed with, once the first is appended. */
  publicKey(runId: string): string | undefined;
  setPublicKey(runId: string, publicKey: string): void;
  entries(runId: string): AuditEntry[];
  runs(): string[];
}

/**
 * `audit_log` (one hash chain per run) and `audit_keys` (the signing key per run) in a
 * better-sqlite3 connection, usually `RunDatabase.sqlite`. With `readonly`, the tables are
 * not created and a database without them is E_AUDIT_NO_LOG.
 */
export class SqliteAuditStore implements AuditStore {
  private readonly db: Database.Database;

  constructor(db: Database.Database, options: { readonly?: boolean } = {}) {
    this.db = db;
    if (!options.readonly) db.exec(SCHEMA);
    else if (!SqliteAuditStore.hasAuditLog(db)) {
      throw new FedistillError('E_AUDIT_NO_LOG', `database ${db.name} has no audit_log table: it was not written by an aggregator with audit logging, or it is a copy made without its -wal file (the latest commits live there while the aggregator runs and after a crash): read the database in place, copy its -wal with it, or use fedistill audit export`);
    }
  }

  /** Whether a database holds an audit log at all. */
  static hasAuditLog(db: Database.Database): boolean {
    return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'`).get() !== undefined;
  }

  atomically<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  head(runId: string): { seq: number; hash: string } | undefined {
    return this.db.prepare('SELECT seq, hash FROM audit_log WHERE run_id = ? ORDER BY seq DESC LIMIT 1').get(runId) as { seq: number; hash: string } | undefined;
  }

  insert(e: AuditEntry): void {
    this.db.prepare('INSERT INTO audit_log (run_id, seq, at, kind, round, site, data_json, prev_hash, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.runId, e.seq, e.at, e.kind, e.round, e.site, canonicalJson(e.data), e.prev_hash, e.hash, e.signature);
  }

  publicKey(runId: string): string | undefined {
    return (this.db.prepare('SELECT public_key FROM audit_keys WHERE run_id = ?').get(runId) as { public_key: string } | undefined)?.public_key;
  }

  setPublicKey(runId: string, publicKey: string): void {
    this.db.prepare('INSERT INTO audit_keys (run_id, public_key) VALUES (?, ?)').run(runId, publicKey);
  }

  /** A run's entries in seq order. data_json that is not JSON comes back as a string (verify reports it). */
  entries(runId: string): AuditEntry[] {
    const rows = this.db.prepare('SELECT * FROM audit_log WHERE run_id = ? ORDER BY seq').all(runId) as AuditRow[];
    return rows.map((r) => {
      let data: unknown;
      try { data = JSON.parse(r.data_json); } catch { data = r.data_json; }
      return {
        seq: r.seq, at: r.at, kind: r.kind as AuditEntryKind, runId: r.run_id, round: r.round, site: r.site,
        data: data as Record<string, unknown>, prev_hash: r.prev_hash, hash: r.hash, signature: r.signature,
      };
    });
  }

  runs(): string[] {
    return (this.db.prepare('SELECT DISTINCT run_id FROM audit_log ORDER BY run_id').all() as { run_id: string }[]).map((r) => r.run_id);
  }
}
