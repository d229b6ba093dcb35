// A site's own ledger of everything that left it, with the worst-case ε it implies — no trust in the aggregator needed.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { PrivacyEvent } from '../shared/privacy/events.ts';
import { validatePrivacyEvent } from '../shared/privacy/events.ts';
import { RdpAccountant } from '../shared/privacy/rdp-accountant.ts';
import { FedistillError } from '../shared/util/errors.ts';

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
  /** SHA-256 of the previous entry's line (hash chain; '' for the first). */
  prev: string;
}

/**
 * Append-only JSON-lines file, hash-chained. A reply sent twice (after a reconnect) is recorded
 * once, keyed by its request id. `epsilon(δ)` replays every event through the accountant.
 */
export class SiteLedger {
  readonly path: string | undefined;
  private readonly entries: SiteLedgerEntry[] = [];
  private readonly requestIds = new Set<string>();
  private lastHash = '';

  constructor(path?: string) {
    this.path = path;
    if (path && existsSync(path)) {
      const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
      for (const [i, line] of lines.entries()) {
        let e: SiteLedgerEntry;
        try { e = JSON.parse(line) as SiteLedgerEntry; } catch { throw new FedistillError('E_LEDGER_CORRUPT', `${path}: line ${i + 1} is not JSON`); }
        if (e.prev !== this.lastHash) throw new FedistillError('E_LEDGER_CORRUPT', `${path}: line ${i + 1} breaks the hash chain`);
        validatePrivacyEvent(e.event, `${path}:${i + 1}.event`);
        this.entries.push(e);
        this.requestIds.add(e.requestId);
        this.lastHash = sha256(line);
      }
    }
  }

  /** Records a release before it is sent. Returns false when this request id was already recorded. */
  record(e: Omit<SiteLedgerEntry, 'seq' | 'at' | 'prev'>): boolean {
    if (this.requestIds.has(e.requestId)) return false;
    validatePrivacyEvent(e.event, 'site ledger event');
    const entry: SiteLedgerEntry = { seq: this.entries.length, at: new Date().toISOString(), ...e, prev: this.lastHash };
    const line = JSON.stringify(entry);
    if (this.path) appendFileSync(this.path, line + '\n');
    this.entries.push(entry);
    this.requestIds.add(e.requestId);
    this.lastHash = sha256(line);
    return true;
  }

  all(): readonly SiteLedgerEntry[] {
    return this.entries;
  }

  /** Worst-case ε at δ over every release recorded (0 when none). */
  epsilon(delta: number): number {
    if (this.entries.length === 0) return 0;
    const acc = new RdpAccountant();
    for (const e of this.entries) acc.compose(e.event);
    return acc.getEpsilon(delta).epsilon;
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
