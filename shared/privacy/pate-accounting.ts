// Privacy cost of a whole Confident-GNMax run: expected or realized cost, data-independent bound, smooth-sensitivity release.
import { check } from '../util/errors.ts';
import { dpAccountingOrders, validateOrders } from './orders.ts';
import {
  addGnmaxRdp, addThresholdRdp, gnmaxRdpDataIndependent, logPrAnswered, logqGaussian, maxVote,
  thresholdRdpDataIndependent,
} from './pate-analysis.ts';
import { type RdpConversion, epsilonAtOrder, epsilonFromRdp } from './rdp-conversion.ts';
import {
  discountedMax, gnssRdp, localSensitivityBoundsGnmax, localSensitivityBoundsThreshold,
} from './smooth-sensitivity.ts';

/** One PATE query: the teachers' vote histogram and, for realized cost, whether it was answered. */
export interface PateQuery { votes: readonly number[]; answered?: boolean }

export interface ConfidentGnmaxParams { threshold: number; sigma1: number; sigma2: number }

/**
 * `expected`: every query pays the threshold step plus P[answered]·GNMax (the PATE 2018 tables).
 * `realized`: the threshold step for every query, GNMax only for queries actually answered
 * (what a deployment charges; needs `answered` on every query).
 */
export type PateCostMode = 'expected' | 'realized';

export interface PateAnalysisOptions {
  delta: number;
  cost?: PateCostMode;
  conversion?: RdpConversion;
  orders?: readonly number[];
}

export interface PateAnalysis {
  queries: number;
  /** Σ P[answered] over the queries. */
  expected_answered: number;
  /** Realized mode: how many were answered. */
  answered?: number;
  epsilon: number;
  order: number;
  epsilon_data_independent: number;
  order_data_independent: number;
  /** Per-order totals, for smooth-sensitivity release and audits. */
  rdp: Float64Array;
  orders: Float64Array;
}

/** Checks the mechanism parameters, naming the field that is wrong. */
export function checkConfidentGnmaxParams(p: ConfidentGnmaxParams): void {
  check(Number.isFinite(p.threshold), 'threshold', `must be a finite number, got ${p.threshold}`);
  check(Number.isFinite(p.sigma1) && p.sigma1 > 0, 'sigma1', `must be > 0, got ${p.sigma1}`);
  check(Number.isFinite(p.sigma2) && p.sigma2 > 0, 'sigma2', `must be > 0, got ${p.sigma2}`);
}

/**
 * Accounts a Confident-GNMax run data-dependently, composing per order in Float64Array
 * accumulators (10,000 queries × 156 orders take well under a second). Also returns the
 * data-independent bound with the same weighting (α/(2σ₁²) per query, α/σ₂² per answered or
 * P[answered]-weighted query), which needs no smooth-sensitivity release to publish.
 */
export function analyzeConfidentGnmax(queries: readonly PateQuery[], params: ConfidentGnmaxParams, options: PateAnalysisOptions): PateAnalysis {
  checkConfidentGnmaxParams(params);
  const cost = options.cost ?? 'expected';
  const orders = Float64Array.from(validateOrders(options.orders ?? dpAccountingOrders()));
  const rdp = new Float64Array(orders.length);
  const { threshold, sigma1, sigma2 } = params;
  let expectedAnswered = 0;
  let answered = 0;
  let gnmaxWeightTotal = 0;
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i]!;
    if (cost === 'realized') check(typeof q.answered === 'boolean', `queries[${i}].answered`, 'realized cost needs to know whether each query was answered');
    const logPr = logPrAnswered(threshold, sigma1, maxVote(q.votes));
    const pr = Math.exp(logPr);
    expectedAnswered += pr;
    addThresholdRdp(logPr, sigma1, orders, rdp);
    const weight = cost === 'expected' ? pr : q.answered ? 1 : 0;
    if (q.answered) answered++;
    gnmaxWeightTotal += weight;
    if (weight > 0) addGnmaxRdp(logqGaussian(q.votes, sigma2), sigma2, orders, rdp, weight);
  }
  const conversion = options.conversion ?? 'improved';
  const dep = epsilonFromRdp(orders, rdp, options.delta, conversion);
  const indRdp = new Float64Array(orders.length);
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]!;
    indRdp[i] = queries.length * thresholdRdpDataIndependent(sigma1, a) + gnmaxWeightTotal * gnmaxRdpDataIndependent(sigma2, a);
  }
  const ind = epsilonFromRdp(orders, indRdp, options.delta, conversion);
  const out: PateAnalysis = {
    queries: queries.length,
    expected_answered: expectedAnswered,
    epsilon: dep.epsilon,
    order: dep.order,
    epsilon_data_independent: ind.epsilon,
    order_data_independent: ind.order,
    rdp,
    orders,
  };
  if (cost === 'realized') out.answered = answered;
  return out;
}

export interface SmoothSensitivityOptions {
  delta: number;
  /** The Rényi order of the release (default: the order that minimises the data-dependent ε). */
  order: number;
  /** Smoothness β; default 0.2/order (must be < 1/(2·order)). */
  beta?: number;
  /** Std of the GNSS noise in units of the smooth sensitivity; default σ₂. */
  sigmaSs?: number;
  conversion?: RdpConversion;
  numTeachers: number;
}

export interface SmoothSensitivityRelease {
  /** Safe to publish: the sanitized ε and the parameters that produced it. */
  epsilon: number;
  order: number;
  beta: number;
  sigma_ss: number;
  /** RDP at `order` paid for publishing the sanitized value (Theorem 23). */
  gnss_rdp: number;
  /** Data-dependent: do NOT publish these two (they are what the noise protects). */
  private_rdp_data_dependent: number;
  private_smooth_sensitivity: number;
}

/**
 * Releases a data-dependent ε through Gaussian noise scaled by its β-smooth sensitivity
 * (PATE 2018, Sec. 4.3): ε̃ = convert(rdp(D) + SS_β(D)·σ_ss·Z + gnss_rdp, order, δ).
 * Realized cost only (each answered query contributes its GNMax local sensitivity).
 * `gaussian` draws the N(0,1) noise (pass CryptoRng.gaussian bound to its instance).
 */
export function releaseSmoothSensitivityEpsilon(
  queries: readonly PateQuery[], params: ConfidentGnmaxParams, options: SmoothSensitivityOptions, gaussian: () => number,
): SmoothSensitivityRelease {
  checkConfidentGnmaxParams(params);
  const order = options.order;
  const beta = options.beta ?? 0.2 / order;
  const sigmaSs = options.sigmaSs ?? params.sigma2;
  check(order > 1 && Number.isFinite(order), 'order', `must be a finite number > 1, got ${order}`);
  check(beta > 0 && beta < 1 / (2 * order), 'beta', `must be in (0, 1/(2·order)) = (0, ${1 / (2 * order)}), got ${beta}`);
  check(sigmaSs > 0 && Number.isFinite(sigmaSs), 'sigma_ss', `must be > 0, got ${sigmaSs}`);
  check(Number.isSafeInteger(options.numTeachers) && options.numTeachers > 0, 'num_teachers', `must be a positive integer, got ${options.numTeachers}`);
  const n = options.numTeachers;
  const one = [order];
  const acc = new Float64Array(1);
  const lsTotal = new Float64Array(n);
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i]!;
    check(typeof q.answered === 'boolean', `queries[${i}].answered`, 'smooth-sensitivity release uses realized cost; mark each query answered or not');
    addThresholdRdp(logPrAnswered(params.threshold, params.sigma1, maxVote(q.votes)), params.sigma1, one, acc);
    const lsT = localSensitivityBoundsThreshold(q.votes, n, params.threshold, params.sigma1, order);
    for (let d = 0; d < n; d++) lsTotal[d] += lsT[d]!;
    if (q.answered) {
      addGnmaxRdp(logqGaussian(q.votes, params.sigma2), params.sigma2, one, acc);
      const lsG = localSensitivityBoundsGnmax(q.votes, n, params.sigma2, order);
      for (let d = 0; d < n; d++) lsTotal[d] += lsG[d]!;
    }
  }
  const ss = discountedMax(beta, lsTotal);
  const gnss = gnssRdp(beta, sigmaSs, order);
  const sanitized = Math.max(0, acc[0]! + ss * sigmaSs * gaussian());
  const epsilon = epsilonAtOrder(order, sanitized + gnss, options.delta, options.conversion ?? 'improved');
  return {
    epsilon, order, beta, sigma_ss: sigmaSs, gnss_rdp: gnss,
    private_rdp_data_dependent: acc[0]!, private_smooth_sensitivity: ss,
  };
}
