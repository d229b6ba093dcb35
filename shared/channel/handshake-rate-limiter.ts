// Per-address token bucket for handshakes: one noisy address cannot starve the aggregator's CPU.

/**
 * `ratePerSecond` tokens refill continuously up to `burst`; each handshake takes one. Infinity
 * disables the limit (benchmarks opening 1,000 sessions from one address).
 */
export class HandshakeRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly ratePerSecond: number, private readonly burst = Math.max(1, ratePerSecond)) {}

  /** Takes a token for `address`; false when the address is over its rate. */
  tryTake(address: string, now = Date.now()): boolean {
    if (this.ratePerSecond === Infinity) return true;
    let b = this.buckets.get(address);
    if (!b) {
      if (this.buckets.size > 10_000) this.prune(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(address, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSecond);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops buckets that have refilled completely: they hold no information. */
  private prune(now: number): void {
    for (const [a, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(a);
    }
  }
}
