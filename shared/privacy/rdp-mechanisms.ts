// RDP curves of the basic mechanisms at one order: Gaussian, Poisson-subsampled Gaussian, Laplace, pure ε-DP.
//
// Formulas follow Google's dp_accounting (rdp_privacy_accountant.py) so that an auditor running
// that library gets the same numbers; all sums are taken in log space.
import { logAddExp, logBinomial, logErfc, logSubExp } from './special-functions.ts';

/** RDP of the Gaussian mechanism with noise multiplier σ: α / (2σ²). */
export function gaussianRdp(noiseMultiplier: number, order: number): number {
  return order / (2 * noiseMultiplier * noiseMultiplier);
}

/** log A_α for integer α (Mironov et al. 2019, Sec. 3.2): binomial expansion, log space. */
function logAInteger(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  const logQ = Math.log(q);
  const log1mq = Math.log1p(-q);
  const twoVar = 2 * sigma * sigma;
  for (let i = 0; i <= alpha; i++) {
    const s = logBinomial(alpha, i) + i * logQ + (alpha - i) * log1mq + (i * i - i) / twoVar;
    logA = logAddExp(logA, s);
  }
  return logA;
}

const MAX_STEPS_LOG_A_FRAC = 1000;

/**
 * log A_α for fractional α (Mironov et al. 2019, Sec. 3.3): the two half-line integrals as
 * series, stopped when both terms decrease and are 30 nats below the total. The binomial
 * coefficient C(α, i) is negative for every other i past ⌊α⌋ + 1: those terms are subtracted, as
 * dp_accounting's _compute_log_a_frac does (added, they overstate A_α, up to ~900× in RDP at
 * σ = 50). Returns +∞ (order dropped) if the series has not converged after 1000 terms, or if a
 * partial sum would go negative (dp_accounting raises there), never a smaller value.
 */
function logAFractional(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const logQ = Math.log(q);
  const log1mq = Math.log1p(-q);
  const twoVar = 2 * sigma * sigma;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  let lastS0 = -Infinity;
  let lastS1 = -Infinity;
  for (let i = 0; i < MAX_STEPS_LOG_A_FRAC; i++) {
    const logCoef = logBinomial(alpha, i);
    const j = alpha - i;
    const logT0 = logCoef + i * logQ + j * log1mq;
    const logT1 = logCoef + j * logQ + i * log1mq;
    const logE0 = -Math.LN2 + logErfc((i - z0) / sqrt2Sigma);
    const logE1 = -Math.LN2 + logErfc((z0 - j) / sqrt2Sigma);
    const logS0 = logT0 + (i * i - i) / twoVar + logE0;
    const logS1 = logT1 + (j * j - j) / twoVar + logE1;
    // sign of C(α, i) = α(α−1)…(α−i+1)/i!: one negative factor for each k in ⌊α⌋+1 … i−1
    if (Math.max(0, i - 1 - Math.floor(alpha)) % 2 === 0) {
      logA0 = logAddExp(logA0, logS0);
      logA1 = logAddExp(logA1, logS1);
    } else {
      if (logS0 > logA0 || logS1 > logA1) return Infinity;
      logA0 = logSubExp(logA0, logS0);
      logA1 = logSubExp(logA1, logS1);
    }
    const total = logAddExp(logA0, logA1);
    if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < total - 30) return total;
    lastS0 = logS0;
    lastS1 = logS1;
  }
  return Infinity;
}

/**
 * RDP of the Poisson-subsampled Gaussian mechanism (one DP-SGD step) at one order; integer and
 * fractional orders; +∞ for α = ∞ or when the series fails (that order is then dropped).
 */
export function poissonSubsampledGaussianRdp(q: number, noiseMultiplier: number, order: number): number {
  if (q === 0) return 0;
  if (order === Infinity) return Infinity;
  if (q === 1) return gaussianRdp(noiseMultiplier, order);
  const logA = Number.isInteger(order)
    ? logAInteger(q, noiseMultiplier, order)
    : logAFractional(q, noiseMultiplier, order);
  const r = logA / (order - 1);
  return Number.isNaN(r) || r < 0 ? Infinity : r;
}

/**
 * RDP of the Laplace mechanism with scale b (in units of L1 sensitivity), ε = 1/b
 * (Mironov 2017, Prop. 6): ε + log(1 + (α−1)(e^{(1−2α)ε} − 1)/(2α−1)) / (α−1). Tight.
 */
export function laplaceRdp(scale: number, order: number): number {
  const eps = 1 / scale;
  if (order === Infinity) return eps;
  const a = order;
  if (a < 1.1) {
    // log(1 + c·x)/x as a series, stable for α → 1 (as dp_accounting does).
    const c = Math.expm1(eps * (1 - 2 * a)) / (2 * a - 1);
    const v = -c * (a - 1);
    let sum = 0;
    let pow = 1;
    for (let k = 1; k < 100; k++) { sum += pow / k; pow *= v; }
    return eps + c * sum;
  }
  return eps + Math.log1p(((a - 1) * Math.expm1(eps * (1 - 2 * a))) / (2 * a - 1)) / (a - 1);
}

/**
 * RDP of an arbitrary ε-DP mechanism: the randomized-response curve, which dominates every
 * ε-DP mechanism (Mironov 2017, Prop. 5; dp_accounting's EpsilonDeltaDpEvent with δ = 0):
 * (εα + log(1 + e^{ε(1−2α)}) − log(1 + e^ε)) / (α − 1) = log(cosh t + tanh(ε/2)·sinh t) / (α − 1)
 * with t = (α − 1)ε. The textbook form cancels as α → 1 (it came out as 0 at α = 1 + 7·2⁻⁵², and
 * the conversion's KL shortcut then made any number of ε-DP events free); these two forms do not:
 * for t ≤ 1 every term of log1p(2 sinh²(t/2) + tanh(ε/2)·sinh t) is ≥ 0, and for t > 1
 * ε + log1p(−(1 − e^{−2t})/(1 + e^ε))/(α − 1) loses at most a factor 3.3 to cancellation.
 */
export function pureEpsilonRdp(epsilon: number, order: number): number {
  if (epsilon === 0) return 0;
  if (order === Infinity) return epsilon;
  const am1 = order - 1;
  const t = am1 * epsilon;
  if (t <= 1) {
    const sh = Math.sinh(t / 2);
    return Math.log1p(2 * sh * sh + Math.tanh(epsilon / 2) * Math.sinh(t)) / am1;
  }
  const c = Math.exp(-logAddExp(0, epsilon)); // 1 / (1 + e^ε), no overflow for large ε
  return epsilon + Math.log1p(-c * -Math.expm1(-2 * t)) / am1;
}
