// A token bucket on an injected clock: the one rate-limiting primitive (inbound budgets, handshakes per address).

/**
 * Holds up to `burst` tokens and refills continuously at `ratePerSecond`. A rate of Infinity
 * never refuses (the limit is off); a rate of 0 never refills. Time comes from the caller, so tests drive it with a fake
 * clock instead of sleeping; a clock that goes backwards refills nothing.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(readonly ratePerSecond: number, readonly burst: number, now: number) {
    if (!(ratePerSecond >= 0) || !(burst >= 0)) throw new RangeError(`TokenBucket needs a rate and burst of at least 0 (got ${ratePerSecond}, ${burst})`);
    this.tokens = burst;
    this.at = now;
  }

  /** Tokens available at `now` (after refilling). */
  available(now: number): number {
    if (this.ratePerSecond === Infinity) return Infinity;
    if (now > this.at && this.ratePerSecond > 0) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.ratePerSecond);
      this.at = now;
    }
    return this.tokens;
  }

  /** Takes `amount` tokens if that many are available; false (and nothing taken) otherwise. */
  tryTake(amount: number, now: number): boolean {
    if (this.available(now) < amount) return false;
    this.tokens -= amount;
    return true;
  }
}
