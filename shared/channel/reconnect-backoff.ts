// Reconnect delays for sites: exponential backoff with jitter, so sites that lost the aggregator together do not return together.
import { randomInt } from 'node:crypto';

export interface ReconnectPolicy {
  /** Delay before the first retry. Default 250 ms. */
  initialDelayMs: number;
  /** Cap on the delay. Default 30 s. */
  maxDelayMs: number;
  /** Growth per attempt. Default 2. */
  multiplier: number;
  /** Fraction of the delay that is random: delay × (1 − jitter × u), u uniform in [0, 1). Default 0.5. */
  jitter: number;
  /** Attempts before giving up. Default Infinity. */
  maxAttempts: number;
}

export const DEFAULT_RECONNECT_POLICY: Readonly<ReconnectPolicy> = Object.freeze({
  initialDelayMs: 250, maxDelayMs: 30_000, multiplier: 2, jitter: 0.5, maxAttempts: Infinity,
});

/** Uniform [0, 1) from the OS CSPRNG (the project uses no non-cryptographic RNG for timing or noise). */
function uniform(): number {
  return randomInt(0, 2 ** 31) / 2 ** 31;
}

/** The delay before retry number `attempt` (1-based). `u` is the random draw, injectable for tests. */
export function backoffDelay(attempt: number, policy: ReconnectPolicy, u: number = uniform()): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - policy.jitter * u));
}
