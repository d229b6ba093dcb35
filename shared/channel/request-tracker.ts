// Pending requests by request id: timeouts, the in-flight cap, and once-only counting of replies.
import { randomBytes } from 'node:crypto';
import { ChannelError } from '../../protocols/error-catalogue.ts';
import type { ReplyMessage } from '../../protocols/messages.ts';
import { FedistillError } from '../util/errors.ts';

interface Pending {
  resolve: (reply: ReplyMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * What happened to an incoming reply: it settled its request, or came after its request had timed
 * out (`late`: the first such reply is expected from a slow peer), or answered a request already
 * answered (`duplicate`), or one never made or long forgotten (`unmatched`).
 */
export type SettleOutcome = 'resolved' | 'late' | 'duplicate' | 'unmatched';

/**
 * Outlives a single session: the aggregator keeps one per site and a site client one for itself,
 * so a reply that arrives on the session opened after a reconnect still settles its request, and
 * a reply sent twice (once before, once after the reconnect) is recognised by its id and counted once.
 */
export class RequestTracker {
  private readonly pending = new Map<string, Pending>();
  /** Recently settled ids, oldest first (a Map keeps insertion order), and whether a reply settled them. */
  private readonly settled = new Map<string, 'replied' | 'timed_out'>();
  private readonly idPrefix = randomBytes(6).toString('hex');
  private nextId = 0;
  readonly stats = { resolved: 0, late: 0, duplicates: 0, unmatched: 0, timeouts: 0 };

  constructor(private readonly maxInFlight: number, private readonly rememberSettled = 65_536) {}

  get inFlight(): number {
    return this.pending.size;
  }

  /** A fresh request id, unique across reconnects and restarts. */
  newId(): string {
    return `${this.idPrefix}-${(this.nextId++).toString(36)}`;
  }

  /** Registers a request; refuses (E_TOO_MANY_IN_FLIGHT) past the cap and a reused id (E_PROTOCOL). */
  begin(requestId: string, timeoutMs: number): Promise<ReplyMessage> {
    if (this.pending.size >= this.maxInFlight) {
      throw new ChannelError('E_TOO_MANY_IN_FLIGHT', `${this.pending.size} requests already await replies (maxInFlight ${this.maxInFlight}); wait for some to finish`);
    }
    if (this.pending.has(requestId) || this.settled.has(requestId)) throw new ChannelError('E_PROTOCOL', `request id ${requestId} was already used`);
    return new Promise<ReplyMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        this.markSettled(requestId, 'timed_out');
        this.stats.timeouts++;
        reject(new ChannelError('E_REQUEST_TIMEOUT', `no reply to request ${requestId} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref?.();
      this.pending.set(requestId, { resolve, reject, timer });
    });
  }

  /** Settles the request a reply answers. An `error` reply rejects it with the peer's code. */
  settle(reply: ReplyMessage): SettleOutcome {
    const id = reply.requestId;
    if (id === undefined) return 'unmatched';
    const p = this.pending.get(id);
    if (!p) {
      const before = this.settled.get(id);
      if (before === 'timed_out') {
        this.settled.set(id, 'replied');
        this.stats.late++;
        return 'late';
      }
      if (before === 'replied') {
        this.stats.duplicates++;
        return 'duplicate';
      }
      this.stats.unmatched++;
      return 'unmatched';
    }
    clearTimeout(p.timer);
    this.pending.delete(id);
    this.markSettled(id, 'replied');
    this.stats.resolved++;
    if (reply.type === 'error') p.reject(new FedistillError(reply.code, `peer refused request ${id}: ${reply.message}`));
    else p.resolve(reply);
    return 'resolved';
  }

  /** Rejects every pending request (shutdown). */
  failAll(e: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.markSettled(id, 'replied');
      p.reject(e);
    }
    this.pending.clear();
  }

  private markSettled(id: string, how: 'replied' | 'timed_out'): void {
    this.settled.set(id, how);
    if (this.settled.size > this.rememberSettled) this.settled.delete(this.settled.keys().next().value!);
  }
}
