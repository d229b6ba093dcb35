// The self-contained export (JSON lines: a header, then one line per entry) and loading a log from an export or a database.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { type BoundedRead, readFileUpTo } from '../util/bounded-read.ts';
import Database from 'better-sqlite3';
import { encodePublicKey, type Identity } from '../crypto/identity.ts';
import { FedistillError, UsageError } from '../util/errors.ts';
import { GENESIS_HASH, signEd25519 } from './audit-entry.ts';
import { canonicalJson } from './canonical-json.ts';
import { SqliteAuditStore, type AuditStore } from './sqlite-audit-store.ts';

const AUDIT_FORMAT = 'fedistill-audit';
const AUDIT_FORMAT_VERSION = 1;
/**
 * Largest export `loadAuditSource` reads (500 MiB): the file is read as one string, and V8's
 * strings stop at 2^29 − 24 characters, so a larger file would fail mid-read. A bigger log is
 * verified from its database.
 */
export const MAX_AUDIT_EXPORT_BYTES = 500 * 1024 * 1024;

/** First line of an export. `head_signature` (optional) signs the canonical JSON of the other fields. */
export interface AuditExportHeader {
  format: typeof AUDIT_FORMAT;
  version: number;
  public_key: string;
  run_id: string;
  /** Hash of the last entry (GENESIS_HASH when there are none). */
  chain_head: string;
  /** Number of entry lines that follow. */
  entries: number;
  head_signature?: string;
}

/** One entry as read, before any check: parsed JSON, or why it could not be parsed. */
export interface RawAuditEntry {
  /** Position among the entries, from 0 (= the expected seq). */
  index: number;
  /** 1-based line in the export file (undefined for a database). */
  line?: number;
  value?: unknown;
  parseError?: string;
}

/** A log to verify, from either source. `ledgerEvents` exists only for a database with a `ledger` table. */
export interface LoadedAuditLog {
  source: 'file' | 'database';
  path: string;
  header: AuditExportHeader;
  entries: RawAuditEntry[];
  ledgerEvents?: (scope: string) => unknown[];
}

/** The bytes head_signature signs: canonical JSON of the header without head_signature. */
export function headerSigningBytes(h: AuditExportHeader): Buffer {
  const { head_signature: _ignored, ...rest } = h;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

/**
 * Builds the export text of one run. With the aggregator's identity the header carries a
 * signature over the chain head, which makes removing trailing entries evident too.
 */
export function exportAuditLog(store: AuditStore, runId: string, identity?: Identity): string {
  const publicKey = store.publicKey(runId);
  if (publicKey === undefined) throw auditRunNotFound(runId, store.runs());
  if (identity && encodePublicKey(identity.publicKey) !== publicKey) {
    throw new FedistillError('E_AUDIT_KEY_MISMATCH', `--identity holds key ${encodePublicKey(identity.publicKey)}, but run "${runId}" is signed with ${publicKey}; pass the aggregator's identity`);
  }
  const entries = store.entries(runId);
  const header: AuditExportHeader = {
    format: AUDIT_FORMAT, version: AUDIT_FORMAT_VERSION, public_key: publicKey, run_id: runId,
    chain_head: entries.at(-1)?.hash ?? GENESIS_HASH, entries: entries.length,
  };
  if (identity) header.head_signature = signEd25519(headerSigningBytes(header), identity.secretKey);
  return [header, ...entries].map((x) => canonicalJson(x)).join('\n') + '\n';
}

function auditRunNotFound(runId: string, runs: string[]): FedistillError {
  return new FedistillError('E_AUDIT_RUN_NOT_FOUND', `no audit log for run "${runId}"; runs with one: ${runs.length ? runs.join(', ') : '(none)'}`);
}

/**
 * The run whose log to read from a database: `runId`, or the only run there is. A database
 * with no run at all (an aggregator that stopped before its run started, e.g. on
 * E_LISTEN_FAILED) is E_AUDIT_NO_LOG, not a request to name one of zero runs.
 */
export function chooseAuditRun(path: string, store: AuditStore, runId?: string): string {
  const runs = store.runs();
  if (runs.length === 0) {
    throw new FedistillError('E_AUDIT_NO_LOG', `no runs in this database: ${path} holds no audit log (the aggregator stopped before any run started, e.g. it could not bind its port); pass the database of a run that started`);
  }
  const id = runId ?? (runs.length === 1 ? runs[0]! : undefined);
  if (id === undefined) throw new UsageError(`${path} holds the audit logs of ${runs.length} runs (${runs.join(', ')}); pass --run ID`, 'E_AUDIT_RUN_REQUIRED');
  if (store.publicKey(id) === undefined) {
    if (runs.includes(id)) {
      throw new FedistillError('E_AUDIT_RUN_NOT_FOUND', `run "${id}" has audit entries but no signing key in audit_keys: the database was altered or damaged, and its log cannot be verified; ask the operator for an export of the run`);
    }
    throw auditRunNotFound(id, runs);
  }
  return id;
}

/**
 * Whether a file is an SQLite database (by its 16-byte magic header). Opened non-blocking and
 * refused unless a regular file: a FIFO with no writer would hang the command, /dev/zero never ends.
 */
export function isSqliteFile(path: string): boolean {
  const buf = Buffer.alloc(16);
  let fd: number;
  try { fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK); } catch (e) { throw fileError(path, e); }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw fileError(path, { code: 'EISDIR' });
    if (!st.isFile()) throw notAFile(path);
    return readSync(fd, buf, 0, 16, 0) === 16 && buf.toString('latin1') === 'SQLite format 3\0';
  } finally { closeSync(fd); }
}

function notAFile(path: string): FedistillError {
  return new FedistillError('E_AUDIT_BAD_FORMAT', `${path} is not a regular file (a pipe, socket or device): pass an audit export or an aggregator database`);
}

function fileError(path: string, e: unknown): FedistillError {
  return new FedistillError('E_FILE_NOT_FOUND', `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); check the path`);
}

/** Parses an export's text. The header must be well-formed; entry lines are returned raw for `verifyAuditLog` to judge. */
export function parseAuditExport(text: string, path = 'export'): LoadedAuditLog {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let header: unknown;
  try { header = JSON.parse(lines[0] ?? ''); } catch {
    throw new FedistillError('E_AUDIT_BAD_FORMAT', `${path}: the first line is not JSON; expected a fedistill-audit header (made by "fedistill audit export")`);
  }
  const h = header as Record<string, unknown>;
  if (h === null || typeof h !== 'object' || h.format !== AUDIT_FORMAT) {
    const siteLedger = h !== null && typeof h === 'object' && 'requestId' in h && 'event' in h;
    throw new FedistillError('E_AUDIT_BAD_FORMAT', `${path}: not a ${AUDIT_FORMAT} export (header format is ${JSON.stringify(h?.format)})${siteLedger ? '; it is a site\'s ledger: check it against the aggregator\'s log with "fedistill audit compare SITE_LEDGER AGGREGATOR_LOG"' : ''}`);
  }
  if (h.version !== AUDIT_FORMAT_VERSION) {
    throw new FedistillError('E_AUDIT_BAD_HEADER', `${path}: export version ${JSON.stringify(h.version)}; this fedistill reads version ${AUDIT_FORMAT_VERSION}`);
  }
  for (const [k, t] of [['public_key', 'string'], ['run_id', 'string'], ['chain_head', 'string'], ['entries', 'number']] as const) {
    if (typeof h[k] !== t) throw new FedistillError('E_AUDIT_BAD_HEADER', `${path}: header field ${k} must be a ${t}`);
  }
  if (h.head_signature !== undefined && typeof h.head_signature !== 'string') throw new FedistillError('E_AUDIT_BAD_HEADER', `${path}: header field head_signature must be a string`);
  const entries = lines.slice(1).map((l, index): RawAuditEntry => {
    try { return { index, line: index + 2, value: JSON.parse(l) }; } catch (e) { return { index, line: index + 2, parseError: (e as Error).message }; }
  });
  return { source: 'file', path, header: h as unknown as AuditExportHeader, entries };
}

/**
 * Opens a log for audit: an export file, or an aggregator database (read-only) with `runId`
 * (optional when it holds one run). Returns the log and a close function for the database.
 */
export function loadAuditSource(path: string, runId?: string): { log: LoadedAuditLog; close: () => void } {
  if (!isSqliteFile(path)) {
    let got: BoundedRead;
    try { got = readFileUpTo(path, MAX_AUDIT_EXPORT_BYTES, { regularOnly: true }); } catch (e) { throw fileError(path, e); }
    if (!got.ok && got.why === 'not_a_file') throw notAFile(path);
    if (!got.ok) {
      throw new FedistillError('E_AUDIT_BAD_FORMAT', `${path} is ${got.size ?? `over ${MAX_AUDIT_EXPORT_BYTES}`} bytes; an export is read whole, up to ${MAX_AUDIT_EXPORT_BYTES} bytes (500 MiB): it is not an audit export, or verify the run from the aggregator's database instead`);
    }
    const log = parseAuditExport(got.bytes.toString('utf8'), path);
    if (runId !== undefined && log.header.run_id !== runId) {
      throw new FedistillError('E_AUDIT_RUN_NOT_FOUND', `${path} is the audit log of run "${log.header.run_id}", not "${runId}"`);
    }
    return { log, close: () => {} };
  }
  let db: Database.Database;
  try { db = new Database(path, { readonly: true, fileMustExist: true }); } catch (e) {
    throw new FedistillError('E_DB_OPEN', `cannot open database ${path} read-only: ${(e as Error).message}`);
  }
  try {
    const store = new SqliteAuditStore(db, { readonly: true });
    const id = chooseAuditRun(path, store, runId);
    const publicKey = store.publicKey(id)!;
    const rows = store.entries(id);
    const header: AuditExportHeader = {
      format: AUDIT_FORMAT, version: AUDIT_FORMAT_VERSION, public_key: publicKey, run_id: id,
      chain_head: rows.at(-1)?.hash ?? GENESIS_HASH, entries: rows.length,
    };
    const hasLedger = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger'`).get() !== undefined;
    // A row that is not JSON comes back as its text, so the cross-check reports it (E_AUDIT_LEDGER_MISMATCH) instead of crashing.
    const ledgerEvents = hasLedger
      ? (scope: string) => sqlite(path, () => db.prepare('SELECT event_json FROM ledger WHERE scope = ? ORDER BY seq').all(scope) as { event_json: string }[])
        .map((r) => { try { return JSON.parse(r.event_json) as unknown; } catch { return r.event_json; } })
      : undefined;
    const log: LoadedAuditLog = { source: 'database', path, header, entries: rows.map((value, index) => ({ index, value })), ...(ledgerEvents ? { ledgerEvents } : {}) };
    return { log, close: () => db.close() };
  } catch (e) {
    db.close();
    throw isSqliteError(e) ? dbError(path, e) : e;
  }
}

function isSqliteError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_');
}

/** A damaged or foreign database is the user's input problem, not an internal error. */
function dbError(path: string, e: unknown): FedistillError {
  return new FedistillError('E_DB_OPEN', `cannot read database ${path}: ${(e as Error).message} (${(e as { code: string }).code}); is it an intact aggregator database?`, { cause: e });
}

/** Runs fn, turning an SQLite failure (damaged or foreign file) into E_DB_OPEN naming `path`. */
export function sqlite<T>(path: string, fn: () => T): T {
  try { return fn(); } catch (e) { throw isSqliteError(e) ? dbError(path, e) : e; }
}
