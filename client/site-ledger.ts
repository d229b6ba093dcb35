// A site's own ledger of everything that left it, with the worst-case ε it implies — no trust in the aggregator needed.
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { type BoundedRead, readFileUpTo } from '../shared/util/bounded-read.ts';
import { canonicalPath, type FileLock, tryLockFile } from '../shared/util/file-lock.ts';
import { dirname } from 'node:path';
import { createHash } from 'node:crypto';
import type { PrivacyEvent } from '../shared/privacy/events.ts';
import { validatePrivacyEvent } from '../shared/privacy/events.ts';
import { RdpAccountant } from '../shared/privacy/rdp-accountant.ts';
import { FedistillError } from '../shared/util/errors.ts';

/**
 * The largest ledger read (512 MiB, about a million releases): it is read whole into one string,
 * and V8 caps strings at about that size anyway.
 */
export const MAX_LEDGER_BYTES = 512 * 2 ** 20;

/** One release by this site: what was sent, and the privacy event it is worth in the worst case. */
export interface SiteLedgerEntry {
  seq: number;
  at: string;
  runId: string;
  round: number;
  requestId: string;
  replyKind: string;
  rows: number;
  event: PrivacyEvent;
  /**
   * The public key (base64) of the aggregator the reply went to, as the secure channel verified it:
   * `audit compare` checks it against the audit log's key, so a ledger cannot be matched against
   * another deployment's log that reuses the run id. Absent in ledgers written before it existed.
   */
  aggregator?: string;
  /**
   * Who adds the noise `event` charges: 'local' (this site, policy.local_noise_multiplier) or
   * 'central' (the aggregator, as the run promised). `audit compare` holds an aggregator to the
   * site's figure only for central noise. Absent in ledgers written before it existed.
   */
  noise?: 'local' | 'central';
  /** SHA-256 of the previous entry's line (hash chain; '' for the first). */
  prev: string;
}

/** Checks one parsed line; returns why it is not the entry at position `seq` after `prev`, or undefined. */
function entryProblem(o: unknown, seq: number, prev: string): string | undefined {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return 'is not a JSON object';
  const e = o as Record<string, unknown>;
  if (e.prev !== prev) return 'breaks the hash chain (the line before it was edited, or a line was removed or inserted before it)';
  if (e.seq !== seq) return `has seq ${JSON.stringify(e.seq)}; expected ${seq} (an entry was removed, duplicated or moved)`;
  for (const k of ['at', 'runId', 'requestId', 'replyKind', 'prev'] as const) if (typeof e[k] !== 'string') return `field ${k} must be a string`;
  for (const k of ['round', 'rows'] as const) if (!Number.isSafeInteger(e[k]) || (e[k] as number) < 0) return `field ${k} must be an integer ≥ 0`;
  if (e.aggregator !== undefined && typeof e.aggregator !== 'string') return 'field aggregator must be a string';
  if (e.noise !== undefined && e.noise !== 'local' && e.noise !== 'central') return "field noise must be 'local' or 'central'";
  return undefined;
}

/**
 * Append-only JSON-lines file, hash-chained. A reply sent twice (after a reconnect) is recorded
 * once, keyed by its request id. `epsilon(δ)` is the accountant's bound over every event (kept
 * composed as entries are added).
 * Each append is fsynced before `record` returns (the reply is sent after), and a failed append
 * is cut back off the file, so the file only ever ends in a complete line — except after a
 * crash mid-write, which the next load reports as E_LEDGER_TORN instead of guessing.
 */
export class SiteLedger {
  readonly path: string | undefined;
  private readonly entries: SiteLedgerEntry[] = [];
  private readonly requestIds = new Set<string>();
  /** Every recorded event, composed. */
  private readonly accountant = new RdpAccountant();
  private lastHash = '';
  /** Bytes of the file that hold complete entries. */
  private size = 0;
  /** The folder's entry for the file is on disk (fsynced once, at the first append of this process). */
  private folderSynced = false;

  private lock: FileLock | undefined;

  /**
   * `exclusive` (the site process sets it): hold `<path>-lock` while this ledger is open, taken before
   * the file is read. Two processes appending to one ledger would each chain their own entries from
   * the same last line, splitting the chain and undercounting each one's releases.
   */
  constructor(path?: string, options: { exclusive?: boolean } = {}) {
    this.path = path;
    if (path && options.exclusive) {
      let lock: FileLock | undefined;
      try { lock = tryLockFile(path); } catch (e) {
        throw new FedistillError('E_LEDGER_UNREADABLE', `cannot lock ledger ${path} (${(e as Error).message}); check that its folder exists and is writable`);
      }
      if (!lock) {
        throw new FedistillError('E_LEDGER_LOCKED', `ledger ${path} is in use by another fedistill client (it holds ${canonicalPath(path)}-lock): a site runs one client per ledger; stop the other one, or give this one its own ledger and identity`);
      }
      this.lock = lock;
    }
    try {
      if (path && existsSync(path)) this.load(path);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Gives back the lock of an exclusive ledger (process exit does too); the entries stay readable. */
  close(): void {
    this.lock?.release();
    this.lock = undefined;
    this.closed = true;
  }

  /** Set by close(): a record after it would be a second writer once another client holds the ledger. */
  private closed = false;

  private load(path: string): void {
    let got: BoundedRead;
    try { got = readFileUpTo(path, MAX_LEDGER_BYTES, { regularOnly: true }); } catch (e) {
      throw new FedistillError('E_LEDGER_UNREADABLE', `cannot read ledger ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`);
    }
    if (!got.ok) {
      throw new FedistillError('E_LEDGER_UNREADABLE', got.why === 'not_a_file'
        ? `${path} is not a regular file (a pipe, socket or device); a ledger is a JSON-lines file`
        : `${path} is ${got.size ?? `over ${MAX_LEDGER_BYTES}`} bytes, more than the ${MAX_LEDGER_BYTES} (512 MiB) a ledger is read up to`);
    }
    const text = got.bytes.toString('utf8');
    const lines = text.split('\n');
    const tail = lines.pop()!; // '' when the file ends with a newline
    if (tail !== '') {
      throw new FedistillError('E_LEDGER_TORN', `${path}: the last line (${lines.length + 1}) is incomplete: a write was interrupted. `
        + `A reply is sent only after its line is written, so that release did not leave the site; remove the partial line (${Buffer.byteLength(tail)} bytes) and restart`);
    }
    for (const [i, line] of lines.entries()) {
      if (line.trim() === '') continue;
      const where = `${path}: line ${i + 1}`;
      let e: unknown;
      try { e = JSON.parse(line); } catch { throw new FedistillError('E_LEDGER_CORRUPT', `${where} is not JSON`); }
      const why = entryProblem(e, this.entries.length, this.lastHash);
      if (why) throw new FedistillError('E_LEDGER_CORRUPT', `${where} ${why}`);
      const entry = e as SiteLedgerEntry;
      if (this.requestIds.has(entry.requestId)) throw new FedistillError('E_LEDGER_CORRUPT', `${where} records request ${entry.requestId} a second time`);
      try { entry.event = validatePrivacyEvent(entry.event, `${path}:${i + 1}.event`); } catch (err) {
        throw new FedistillError('E_LEDGER_CORRUPT', `${where}: ${(err as Error).message}`, { cause: err });
      }
      this.add(entry, line);
    }
    this.size = got.bytes.length;
  }

  /** Records a release before it is sent. Returns false when this request id was already recorded. */
  record(e: Omit<SiteLedgerEntry, 'seq' | 'at' | 'prev'>): boolean {
    if (this.closed) throw new FedistillError('E_LEDGER_WRITE', `ledger ${this.path ?? '(in memory)'} was closed (this client is stopping or its run has ended): request ${e.requestId} is not recorded, and nothing is sent`);
    if (this.requestIds.has(e.requestId)) return false;
    const event = validatePrivacyEvent(e.event, 'site ledger event');
    const entry: SiteLedgerEntry = { seq: this.entries.length, at: new Date().toISOString(), ...e, event, prev: this.lastHash };
    const line = JSON.stringify(entry);
    if (this.path) this.append(this.path, Buffer.from(line + '\n', 'utf8'));
    this.add(entry, line);
    return true;
  }

  private add(entry: SiteLedgerEntry, line: string): void {
    this.entries.push(entry);
    this.requestIds.add(entry.requestId);
    this.accountant.compose(entry.event);
    this.lastHash = sha256(line);
  }

  /** Whether a release for this request id is recorded. */
  has(requestId: string): boolean {
    return this.requestIds.has(requestId);
  }

  /** Writes and fsyncs one line; on failure cuts the file back to its last complete entry and throws E_LEDGER_WRITE. */
  private append(path: string, data: Buffer): void {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'a');
      for (let off = 0; off < data.length;) off += writeSync(fd, data, off);
      fsyncSync(fd);
    } catch (err) {
      if (fd !== undefined) { try { ftruncateSync(fd, this.size); } catch { /* the next load reports the torn line */ } }
      throw new FedistillError('E_LEDGER_WRITE', `${path}: cannot record the release (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); nothing was sent`, { cause: err });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    this.size += data.length;
    if (!this.folderSynced) this.syncFolder(path);
  }

  /**
   * A file fsynced is not yet reachable after a power loss until its folder's entry is: fsynced
   * once, so the first release recorded in a new ledger cannot vanish with the file. Best effort
   * (a platform that cannot open a folder, e.g. Windows, keeps the file's own fsync).
   */
  private syncFolder(path: string): void {
    this.folderSynced = true;
    let fd: number | undefined;
    try { fd = openSync(dirname(path), 'r'); fsyncSync(fd); } catch { /* best effort, see above */ } finally { if (fd !== undefined) closeSync(fd); }
  }

  all(): readonly SiteLedgerEntry[] {
    return this.entries;
  }

  /**
   * Worst-case ε at δ over every release recorded, plus `next` if given (0 when there is none).
   * Infinity when no order gives a finite bound (a ledger holding such an event, written before the
   * site refused them): every budget then refuses, and a report says ∞ instead of the site crashing.
   */
  epsilon(delta: number, next?: PrivacyEvent): number {
    if (this.entries.length === 0 && !next) return 0;
    const acc = next ? this.accountant.clone().compose(next) : this.accountant;
    try {
      return acc.getEpsilon(delta).epsilon;
    } catch (e) {
      if ((e as { code?: string }).code === 'E_NO_FINITE_ORDER') return Infinity;
      throw e;
    }
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
