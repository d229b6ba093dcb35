// PATE RDP analysis (Papernot et al. 2018, "Scalable Private Learning with PATE"): GNMax and the threshold step.
//
// Mirrors the paper's reference analysis (tensorflow/privacy research/pate_2018/core.py):
// compute_logq_gaussian, rdp_gaussian (Theorem 6), compute_logpr_answered, compute_rdp_threshold.
// Curves are added into Float64Array accumulators so thousands of queries stay fast.
import { log1mExp, logNdtr, logNormalSf } from './special-functions.ts';

/** Python's round(): half to even, as the reference uses on max(votes). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Index of the first maximum (numpy.argmax). */
function argmax(votes: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < votes.length; i++) if (votes[i]! > votes[best]!) best = i;
  return best;
}

/**
 * Upper bound on log P[GNMax output ≠ argmax] (Proposition 7): union bound over the other
 * classes, each beating the top one with probability P[N(0, 2σ²) > gap], capped at log(1 − 1/m).
 */
export function logqGaussian(votes: ArrayLike<number>, sigma: number): number {
  const n = votes.length;
  const top = argmax(votes);
  const scale = Math.SQRT2 * sigma;
  let m = -Infinity;
  const terms = new Float64Array(n - 1);
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (i === top) continue;
    const t = logNormalSf(votes[top]! - votes[i]!, scale);
    terms[k++] = t;
    if (t > m) m = t;
  }
  let sum = 0;
  for (let i = 0; i < k; i++) sum += Math.exp(terms[i]! - m);
  const logq = m + Math.log(sum);
  return Math.min(logq, Math.log(1 - 1 / n));
}

/** Data-independent RDP of GNMax (Proposition 8): α / σ². */
export function gnmaxRdpDataIndependent(sigma: number, order: number): number {
  return order / (sigma * sigma);
}

/**
 * Adds weight × (data-dependent GNMax RDP, Theorem 6) at every order into `out`, given an upper
 * bound log q on P[outcome ≠ argmax]. Where the theorem's conditions fail (Proposition 10's
 * μ₁ ≤ α, or q too large) it adds the data-independent α/σ² instead, as the reference does.
 */
export function addGnmaxRdp(logq: number, sigma: number, orders: ArrayLike<number>, out: Float64Array, weight = 1): void {
  if (weight === 0) return;
  if (logq > 0 || Number.isNaN(logq)) throw new RangeError(`logq must be ≤ 0, got ${logq}`);
  if (logq === -Infinity) return; // the output is fixed: 0-RDP
  const variance = sigma * sigma;
  const mu2 = Math.sqrt(variance * -logq);
  const mu1 = mu2 + 1;
  const rdpHi1 = mu1 / variance;
  const rdpHi2 = mu2 / variance;
  const logA2 = (mu2 - 1) * rdpHi2;
  const dataDependent = mu2 > 1 &&
    logq <= logA2 - mu2 * (Math.log(1 + 1 / (mu1 - 1)) + Math.log(1 + 1 / (mu2 - 1))) &&
    -logq > rdpHi2;
  let log1q = 0;
  let aCoef = 0;
  let bCoef = 0;
  if (dataDependent) {
    log1q = log1mExp(logq);
    aCoef = log1q - log1mExp((logq + rdpHi2) * (1 - 1 / mu2));
    bCoef = rdpHi1 - logq / (mu1 - 1);
  }
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]!;
    let r = a / variance;
    if (dataDependent && mu1 > a) {
      const x = log1q + (a - 1) * aCoef;
      const y = logq + (a - 1) * bCoef;
      const logS = x > y ? x + Math.log1p(Math.exp(y - x)) : y + Math.log1p(Math.exp(x - y));
      const dd = logS / (a - 1);
      if (dd < r) r = dd;
    }
    out[i] += weight * r;
  }
}

/** The data-dependent GNMax RDP curve for a vote histogram (Theorem 6 on the union bound of q). */
export function gnmaxRdp(votes: ArrayLike<number>, sigma: number, orders: ArrayLike<number>): Float64Array {
  const out = new Float64Array(orders.length);
  addGnmaxRdp(logqGaussian(votes, sigma), sigma, orders, out);
  return out;
}

/** log P[max vote + N(0, σ²) ≥ T], with max vote rounded half-to-even as the reference does. */
export function logPrAnswered(threshold: number, sigma: number, maxVote: number): number {
  return logNormalSf(threshold - roundHalfEven(maxVote), sigma);
}

/**
 * log P[max vote + N(0, σ²) < T], computed in log space itself rather than as log(1 − P[answered]):
 * once P[answered] rounds to 1 (the threshold is ~38σ below the max vote), 1 − P[answered] is 0 in
 * double precision and the step would look free, while its true q still gives a positive bound.
 */
export function logPrRefused(threshold: number, sigma: number, maxVote: number): number {
  return logNdtr((threshold - roundHalfEven(maxVote)) / sigma);
}

/** Largest entry of a vote histogram. */
export function maxVote(votes: ArrayLike<number>): number {
  return votes[argmax(votes)]!;
}

/**
 * Adds weight × (threshold-step RDP) into `out` for a query whose max vote is `maxVote`: the
 * threshold's input has sensitivity 1 (GNMax's has 2), so it is the GNMax bound at σ√2 with
 * q = min(P[answered], P[refused]). Both tails are taken in log space: the reference's
 * log(1 − P[answered]) underflows to −∞ for a very confident query and then charges nothing.
 */
export function addThresholdRdp(threshold: number, sigma: number, maxVote: number, orders: ArrayLike<number>, out: Float64Array, weight = 1): void {
  const logq = Math.min(logPrAnswered(threshold, sigma, maxVote), logPrRefused(threshold, sigma, maxVote));
  addGnmaxRdp(logq, Math.SQRT2 * sigma, orders, out, weight);
}

/** Data-independent RDP of the threshold step: α / (2σ²). */
export function thresholdRdpDataIndependent(sigma: number, order: number): number {
  return order / (2 * sigma * sigma);
}
