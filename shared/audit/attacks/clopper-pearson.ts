// Clopper–Pearson (exact binomial) confidence intervals, from the regularized incomplete beta function.
import { check } from '../../util/errors.ts';
import { logGamma } from '../../privacy/special-functions.ts';

/** Continued fraction of I_x(a, b) (modified Lentz), valid for x < (a + 1) / (a + b + 2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b) = P[Beta(a, b) ≤ x], a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  check(a > 0 && b > 0, 'beta parameters', `must be > 0, got a = ${a}, b = ${b}`);
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/** The p-quantile of Beta(a, b), by bisection on I_x(a, b) (monotone in x; 100 halvings reach double precision). */
function betaQuantile(p: number, a: number, b: number): number {
  check(p >= 0 && p <= 1, 'p', `must be in [0, 1], got ${p}`);
  let lo = 0, hi = 1;
  for (let i = 0; i < 100 && hi - lo > 1e-16; i++) {
    const mid = (lo + hi) / 2;
    if (regularizedIncompleteBeta(mid, a, b) < p) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface BinomialInterval { lower: number; upper: number }

/**
 * The two-sided Clopper–Pearson interval for a rate from `successes` of `trials` at
 * `confidence` (e.g. 0.95): each end is a one-sided bound at (1 − confidence)/2, so it holds
 * however the true rate lies. Exact, hence conservative: what an audit claim needs.
 */
export function clopperPearson(successes: number, trials: number, confidence: number): BinomialInterval {
  check(Number.isSafeInteger(trials) && trials > 0, 'trials', `must be a positive integer, got ${trials}`);
  check(Number.isSafeInteger(successes) && successes >= 0 && successes <= trials, 'successes', `must be an integer in 0..${trials}, got ${successes}`);
  check(confidence > 0 && confidence < 1, 'confidence', `must be in (0, 1), got ${confidence}`);
  const tail = (1 - confidence) / 2;
  return {
    lower: successes === 0 ? 0 : betaQuantile(tail, successes, trials - successes + 1),
    upper: successes === trials ? 1 : betaQuantile(1 - tail, successes + 1, trials - successes),
  };
}
