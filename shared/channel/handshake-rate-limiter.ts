// Per-address token bucket for handshakes: one noisy address cannot starve the aggregator's CPU.
import { TokenBucket } from './token-bucket.ts';

/**
 * `ratePerSecond` tokens refill continuously up to `burst`; each handshake takes one. Infinity
 * disables the limit (benchmarks opening 1,000 sessions from one address).
 */
export class HandshakeRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly ratePerSecond: number, private readonly burst = Math.max(1, ratePerSecond)) {}

  /**
   * Takes a token for `address`; false when the address is over its rate. `now` in ms, monotonic by
   * default (performance.now): a wall clock stepped back by NTP would stop every bucket refilling
   * until it caught up, refusing honest sites that reconnect.
   */
  tryTake(address: string, now = performance.now()): boolean {
    if (this.ratePerSecond === Infinity) return true;
    let b = this.buckets.get(address);
    if (!b) {
      if (this.buckets.size > 10_000) this.prune(now);
      b = new TokenBucket(this.ratePerSecond, this.burst, now);
      this.buckets.set(address, b);
    }
    return b.tryTake(1, now);
  }

  /** Drops buckets that have refilled completely: they hold no information. */
  private prune(now: number): void {
    for (const [a, b] of this.buckets) if (b.available(now) >= this.burst) this.buckets.delete(a);
  }
}
