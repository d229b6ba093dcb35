// Smooth sensitivity of PATE's data-dependent RDP, so a data-dependent ε can itself be published privately.
//
// Mirrors the reference analysis (tensorflow/privacy research/pate_2018/smooth_sensitivity.py):
// q0 where the data-dependent bound meets the data-independent one, local sensitivity at
// distance d for GNMax (Algorithms 3–5) and for the threshold step, the β-discounted maximum,
// and the RDP of the Gaussian-noise-with-smooth-sensitivity (GNSS) release (Theorem 23).
import { erfcInvLog, logErfc } from './special-functions.ts';
import { addThresholdRdp, gnmaxRdpDataIndependent, logqGaussian, roundHalfEven } from './pate-analysis.ts';

/** Theorem 6 without its preconditions; callers guarantee logq < logq0. */
function dataDependentBound(sigma: number, logq: number, order: number): number {
  const variance = sigma * sigma;
  const mu2 = sigma * Math.sqrt(-logq);
  const mu1 = mu2 + 1;
  const eps1 = mu1 / variance;
  const eps2 = mu2 / variance;
  const log1q = Math.log1p(-Math.exp(logq));
  const logA = (order - 1) * (log1q - Math.log1p(-Math.exp((logq + eps2) * (1 - 1 / mu2))));
  const logB = (order - 1) * (eps1 - logq / (mu1 - 1));
  const x = log1q + logA;
  const y = logq + logB;
  const m = Math.max(x, y);
  return (m + Math.log(Math.exp(x - m) + Math.exp(y - m))) / (order - 1);
}

const logq0Cache = new Map<string, number>();

/** log q0: below it the data-dependent GNMax bound beats α/σ² (found by bisection). */
export function logq0Gnmax(sigma: number, order: number): number {
  const key = `${sigma}|${order}`;
  const hit = logq0Cache.get(key);
  if (hit !== undefined) return hit;
  const compare = (logq: number) => dataDependentBound(sigma, logq, order) - gnmaxRdpDataIndependent(sigma, order);
  const logub = Math.min(-((1 + 1 / sigma) ** 2), -(((order - 0.99) / sigma) ** 2), -1 / (sigma * sigma));
  let result: number;
  if (compare(logub) < 0) result = logub;
  else {
    let loglb = 2 * logub;
    while (compare(loglb) > 0) {
      if (loglb < -10000) throw new RangeError(`logq0: no bracket for sigma=${sigma}, order=${order}`);
      loglb *= 1.5;
    }
    let lo = loglb; // compare(lo) ≤ 0
    let hi = logub; // compare(hi) > 0
    for (let i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, Math.abs(lo)); i++) {
      const mid = 0.5 * (lo + hi);
      if (compare(mid) > 0) hi = mid; else lo = mid;
    }
    result = 0.5 * (lo + hi);
  }
  logq0Cache.set(key, result);
  return result;
}

/** log of the lower bound on q at distance 1 (the reference's _compute_bl_gnmax), in log space. */
function logBl(logq: number, sigma: number, m: number): number {
  return Math.log((m - 1) / 2) + logErfc(1 / sigma + erfcInvLog(Math.LN2 + logq - Math.log(m - 1)));
}

/** log of the upper bound on q at distance 1 (_compute_bu_gnmax), capped at 0. */
function logBu(logq: number, sigma: number, m: number): number {
  return Math.min(0, Math.log((m - 1) / 2) + logErfc(-1 / sigma + erfcInvLog(Math.LN2 + logq - Math.log(m - 1))));
}

/** log q1 = log bl(q0): the start of the plateau where the local sensitivity is maximal. */
export function logq1Gnmax(sigma: number, order: number, numClasses: number): number {
  return logBl(logq0Gnmax(sigma, order), sigma, numClasses);
}

/** RDP of GNMax at one order as the smooth-sensitivity analysis defines it (switching at q0). */
function rdpGnmaxAt(sigma: number, logq: number, order: number): number {
  return logq >= logq0Gnmax(sigma, order) ? gnmaxRdpDataIndependent(sigma, order) : dataDependentBound(sigma, logq, order);
}

/** Algorithm 3: an upper bound on the local sensitivity of GNMax's RDP at a given log q. */
function localSensitivityAtLogq(logq: number, sigma: number, m: number, order: number): number {
  const logq0 = logq0Gnmax(sigma, order);
  const logq1 = logq1Gnmax(sigma, order, m);
  if (logq1 <= logq && logq <= logq0) logq = logq1;
  const beta = rdpGnmaxAt(sigma, logq, order);
  const betaBu = rdpGnmaxAt(sigma, logBu(logq, sigma, m), order);
  const betaBl = rdpGnmaxAt(sigma, logBl(logq, sigma, m), order);
  return Math.max(betaBu - beta, beta - betaBl);
}

/**
 * Local sensitivity of GNMax's data-dependent RDP at distances d = 0 … numTeachers−1
 * (Algorithms 4–5, O(teachers·classes)): votes move one teacher at a time toward (or away
 * from) the plateau.
 */
export function localSensitivityBoundsGnmax(votes: readonly number[], numTeachers: number, sigma: number, order: number): Float64Array {
  const m = votes.length;
  const logq0 = logq0Gnmax(sigma, order);
  const logq1 = logq1Gnmax(sigma, order, m);
  let logq = logqGaussian(votes, sigma);
  const plateau = localSensitivityAtLogq(logq1, sigma, m, order);
  const res = new Float64Array(numTeachers).fill(plateau);
  if (logq1 <= logq && logq <= logq0) return res;
  const v = [...votes].sort((a, b) => b - a);
  res[0] = localSensitivityAtLogq(logq, sigma, m, order);
  let d = 0;
  const goLeft = logq > logq0;
  while ((goLeft && logq > logq0 && v[1]! > 0) || (!goLeft && logq < logq1)) {
    d++;
    if (d >= numTeachers) break;
    if (goLeft) {
      v[0]! += 1;
      v[1]! -= 1;
      let idx = 1;
      while (idx < m - 1 && v[idx]! < v[idx + 1]!) {
        const t = v[idx]!; v[idx] = v[idx + 1]!; v[idx + 1] = t;
        idx++;
      }
    } else {
      v[0]! -= 1;
      v[1]! += 1;
    }
    logq = logqGaussian(v, sigma);
    res[d] = localSensitivityAtLogq(logq, sigma, m, order);
  }
  return res;
}

const thresholdListCache = new Map<string, Float64Array>();

/** Threshold-step RDP at one order for every possible max vote 0 … numTeachers. */
function thresholdRdpByMaxVote(numTeachers: number, threshold: number, sigma: number, order: number): Float64Array {
  const key = `${numTeachers}|${threshold}|${sigma}|${order}`;
  const hit = thresholdListCache.get(key);
  if (hit) return hit;
  const res = new Float64Array(numTeachers + 1);
  const one = [order];
  const out = new Float64Array(1);
  for (let v = 0; v <= numTeachers; v++) {
    out[0] = 0;
    addThresholdRdp(threshold, sigma, v, one, out);
    res[v] = out[0]!;
  }
  thresholdListCache.set(key, res);
  return res;
}

/** Local sensitivity of the threshold step's RDP at distances d = 0 … numTeachers−1. */
export function localSensitivityBoundsThreshold(votes: readonly number[], numTeachers: number, threshold: number, sigma: number, order: number): Float64Array {
  const list = thresholdRdpByMaxVote(numTeachers, threshold, sigma, order);
  const lsAt = (v: number): number => {
    let best = -Infinity;
    if (v > 0) best = Math.max(best, Math.abs(list[v - 1]! - list[v]!));
    if (v < numTeachers) best = Math.max(best, Math.abs(list[v + 1]! - list[v]!));
    return best;
  };
  const curMax = roundHalfEven(Math.max(...votes));
  const ls = new Float64Array(numTeachers);
  const span = Math.min(numTeachers, Math.max(curMax, numTeachers - curMax));
  for (let d = 0; d < span; d++) {
    let best = -Infinity;
    if (curMax + d <= numTeachers) best = Math.max(best, lsAt(curMax + d));
    if (curMax - d >= 0) best = Math.max(best, lsAt(curMax - d));
    ls[d] = best === -Infinity ? 0 : best;
  }
  return ls;
}

/** The β-smooth sensitivity from local sensitivities at distance d: max_d e^{−βd}·LS(d). */
export function discountedMax(beta: number, ls: ArrayLike<number>): number {
  let best = 0;
  for (let d = 0; d < ls.length; d++) best = Math.max(best, ls[d]! * Math.exp(-beta * d));
  return best;
}

/** RDP at `order` of releasing f(D) + SS_β(D)·N(0, σ²) (Theorem 23); needs 1 < order < 1/(2β). */
export function gnssRdp(beta: number, sigma: number, order: number): number {
  if (beta > 0 && !(order > 1 && order < 1 / (2 * beta))) {
    throw new RangeError(`order ${order} is outside (1, 1/(2β)) = (1, ${1 / (2 * beta)})`);
  }
  return (order * Math.exp(2 * beta)) / (sigma * sigma) + (-0.5 * Math.log(1 - 2 * order * beta) + beta * order) / (order - 1);
}
