// What one authenticated peer may make this side decrypt and decode: bytes/s, messages/s, and strikes for unsolicited messages.
import { ChannelError } from '../../protocols/error-catalogue.ts';
import type { ConnectionLimits } from '../../protocols/limits.ts';
import { TokenBucket } from './token-bucket.ts';

/** The options an InboundBudget reads (all in ConnectionLimits, with their defaults there). */
export type InboundBudgetLimits = Pick<ConnectionLimits,
  'inboundBytesPerSecond' | 'inboundBurstBytes' | 'inboundMessagesPerSecond' | 'inboundBurstMessages' | 'maxUnsolicitedMessages' | 'unsolicitedForgiveMs'>;

/**
 * Per-message limits (size, shape) bound what one message costs; this bounds how many a peer may
 * send. Frames are admitted by size before they are decrypted (two token buckets: bytes and
 * messages); after decoding, the session reports messages the peer had no reason to send, and
 * each takes a strike from a third bucket that forgives one per `unsolicitedForgiveMs`. Running
 * out of any of them throws the ChannelError the session closes with.
 *
 * It closes rather than pausing reads: the defaults sit far above what a legitimate peer sends
 * (see docs/channel.md), so an empty bucket means misbehaviour, not congestion; a paused peer
 * would keep its socket, its buffered frame and its CPU share forever, and its heartbeats would
 * go unread. The aggregator keeps one budget per site across reconnects (like its RequestTracker),
 * so reconnecting does not refill it.
 */
export class InboundBudget {
  /** `controlFrames`: websocket pings and pongs, also counted in `frames` and `bytes`. */
  readonly stats = { frames: 0, bytes: 0, unsolicited: 0, controlFrames: 0 };
  private readonly bytes: TokenBucket;
  private readonly messages: TokenBucket;
  private readonly strikes: TokenBucket;

  /**
   * `now` is the clock (ms); tests inject a fake one. The default is monotonic, not Date.now: a wall
   * clock stepped back (NTP) would refill nothing until it caught up, closing honest peers meanwhile.
   */
  constructor(private readonly limits: InboundBudgetLimits, private readonly now: () => number = () => performance.now()) {
    const t = now();
    this.bytes = new TokenBucket(limits.inboundBytesPerSecond, limits.inboundBurstBytes, t);
    this.messages = new TokenBucket(limits.inboundMessagesPerSecond, limits.inboundBurstMessages, t);
    this.strikes = new TokenBucket(1000 / limits.unsolicitedForgiveMs, limits.maxUnsolicitedMessages, t);
  }

  /** Admits one encrypted frame of `byteLength` bytes, or throws E_INBOUND_RATE_EXCEEDED. Call before decrypting. */
  admitFrame(byteLength: number): void {
    const t = this.now();
    const { limits } = this;
    if (!this.messages.tryTake(1, t)) {
      throw new ChannelError('E_INBOUND_RATE_EXCEEDED', `over inboundMessagesPerSecond ${limits.inboundMessagesPerSecond}/s, burst ${limits.inboundBurstMessages}; raise them if this peer is legitimate`);
    }
    if (!this.bytes.tryTake(byteLength, t)) {
      throw new ChannelError('E_INBOUND_RATE_EXCEEDED', `over inboundBytesPerSecond ${formatBytes(limits.inboundBytesPerSecond)}/s, burst ${formatBytes(limits.inboundBurstBytes)}; raise them if this peer is legitimate`);
    }
    this.stats.frames++;
    this.stats.bytes += byteLength;
  }

  /**
   * Admits one websocket control frame (a ping, which `ws` answers with a pong, or a pong) like a
   * message of its size, or throws E_INBOUND_RATE_EXCEEDED: a flood of them costs reads and writes
   * as any other flood does, though it never reaches the session.
   */
  admitControlFrame(byteLength: number): void {
    this.admitFrame(byteLength);
    this.stats.controlFrames++;
  }

  /**
   * Records a message the peer had no reason to send (`what`, a few words: it ends up in the close
   * reason, which websockets cap at 123 bytes). Throws E_UNSOLICITED_MESSAGES once more than
   * maxUnsolicitedMessages have come faster than they are forgiven.
   */
  noteUnsolicited(what: string): void {
    this.stats.unsolicited++;
    if (!this.strikes.tryTake(1, this.now())) {
      throw new ChannelError('E_UNSOLICITED_MESSAGES', `over maxUnsolicitedMessages ${this.limits.maxUnsolicitedMessages} (last: ${what.slice(0, 32)}); raise it if legitimate`);
    }
  }
}

/** 33554432 → "32 MiB": close reasons must stay short. */
export function formatBytes(n: number): string {
  if (n === Infinity) return 'Infinity B';
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= size) return `${Number((n / size).toFixed(2))} ${unit}`;
  }
  return `${n} B`;
}
