// Privacy cost of a whole Confident-GNMax run: realized or expected cost, data-independent bound, smooth-sensitivity release.
import { check } from '../util/errors.ts';
import type { PrivacyEvent } from './events.ts';
import { ndtri } from './special-functions.ts';
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
 * That is an expectation over the threshold noise, comparable with the paper, NOT a DP guarantee:
 * a run's realized cost exceeds it about half of the time.
 * `realized`: the threshold step for every query, GNMax only for queries actually answered
 * (what a deployment charges; needs `answered` on every query).
 */
export type PateCostMode = 'expected' | 'realized';

/** What the `epsilon` of an analysis is, in words a report can print beside it. */
export const PATE_EPSILON_NOTES: Record<PateCostMode, string> = {
  expected: 'paper-comparable expectation, not a guarantee',
  realized: 'data-dependent bound for these votes and answers; private: publish only through a smooth-sensitivity release',
};

/**
 * How the data-independent bound was built. `answered-flags`: α/(2σ₁²) per query + α/σ₂² per
 * answered query (the answered flags are public outputs). `worst-case`: no answered flags, so
 * every query is charged GNMax too. Neither depends on the votes.
 */
export type DataIndependentBasis = 'answered-flags' | 'worst-case';

export interface PateAnalysisOptions {
  delta: number;
  /** Default: `realized` when every query carries `answered`, `expected` when none does. */
  cost?: PateCostMode;
  conversion?: RdpConversion;
  orders?: readonly number[];
}

export interface PateAnalysis {
  queries: number;
  cost: PateCostMode;
  /** Σ P[answered] over the queries (computed from the votes: a private diagnostic). */
  expected_answered: number;
  /** Realized mode: how many were answered. */
  answered?: number;
  /** Data-dependent ε of the chosen cost mode; read `epsilon_note` before using it. */
  epsilon: number;
  order: number;
  epsilon_note: string;
  /** The publishable bound: depends only on the parameters, the query count and the answered flags. */
  epsilon_data_independent: number;
  order_data_independent: number;
  data_independent_basis: DataIndependentBasis;
  /** Every query answered: the bound a site or auditor can compute without any flags. */
  epsilon_data_independent_worst_case: number;
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

/** The cost mode a caller gets by default: realized when the answers are known, since only that one is a bound. */
export function defaultPateCostMode(queries: readonly PateQuery[]): PateCostMode {
  return queries.length > 0 && queries.every((q) => typeof q.answered === 'boolean') ? 'realized' : 'expected';
}

/**
 * The charge of `queries` Confident-GNMax queries with every one answered: the data-independent
 * worst case, what a site (its own bound) or a run's plan charges before any answer is known.
 */
export function confidentGnmaxWorstCase(queries: number, sigmas: { sigma1: number; sigma2: number }): PrivacyEvent {
  return { type: 'composed', count: queries, events: [{ type: 'pate_threshold', sigma: sigmas.sigma1 }, { type: 'pate_gnmax', sigma: sigmas.sigma2 }] };
}

/**
 * The data-independent RDP curve of Confident-GNMax from public quantities only: α/(2σ₁²) for each
 * of `queries` threshold steps + α/σ₂² for each of `gnmaxSteps` GNMax steps (the answered count,
 * or `queries` for the worst case). Never weight it by P[answered]: that comes from the votes.
 */
export function dataIndependentRdp(queries: number, gnmaxSteps: number, params: ConfidentGnmaxParams, orders: ArrayLike<number>): Float64Array {
  const out = new Float64Array(orders.length);
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]!;
    out[i] = queries * thresholdRdpDataIndependent(params.sigma1, a) + gnmaxSteps * gnmaxRdpDataIndependent(params.sigma2, a);
  }
  return out;
}

/**
 * Accounts a Confident-GNMax run data-dependently, composing per order in Float64Array
 * accumulators (10,000 queries × 156 orders take well under a second). Also returns the
 * data-independent bound, which needs no smooth-sensitivity release to publish: realized cost
 * charges GNMax for the answered queries (public outputs), expected cost for every query (worst
 * case), because the P[answered] weights come from the private votes.
 */
export function analyzeConfidentGnmax(queries: readonly PateQuery[], params: ConfidentGnmaxParams, options: PateAnalysisOptions): PateAnalysis {
  checkConfidentGnmaxParams(params);
  const cost = options.cost ?? defaultPateCostMode(queries);
  const orders = Float64Array.from(validateOrders(options.orders ?? dpAccountingOrders()));
  const rdp = new Float64Array(orders.length);
  const { threshold, sigma1, sigma2 } = params;
  let expectedAnswered = 0;
  let answered = 0;
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i]!;
    if (cost === 'realized') check(typeof q.answered === 'boolean', `queries[${i}].answered`, 'realized cost needs to know whether each query was answered');
    const logPr = logPrAnswered(threshold, sigma1, maxVote(q.votes));
    const pr = Math.exp(logPr);
    expectedAnswered += pr;
    addThresholdRdp(threshold, sigma1, maxVote(q.votes), orders, rdp);
    const weight = cost === 'expected' ? pr : q.answered ? 1 : 0;
    if (q.answered) answered++;
    if (weight > 0) addGnmaxRdp(logqGaussian(q.votes, sigma2), sigma2, orders, rdp, weight);
  }
  const conversion = options.conversion ?? 'improved';
  const dep = epsilonFromRdp(orders, rdp, options.delta, conversion);
  const n = queries.length;
  const worst = epsilonFromRdp(orders, dataIndependentRdp(n, n, params, orders), options.delta, conversion);
  const ind = cost === 'realized' ? epsilonFromRdp(orders, dataIndependentRdp(n, answered, params, orders), options.delta, conversion) : worst;
  const out: PateAnalysis = {
    queries: n,
    cost,
    expected_answered: expectedAnswered,
    epsilon: dep.epsilon,
    order: dep.order,
    epsilon_note: PATE_EPSILON_NOTES[cost],
    epsilon_data_independent: ind.epsilon,
    order_data_independent: ind.order,
    data_independent_basis: cost === 'realized' ? 'answered-flags' : 'worst-case',
    epsilon_data_independent_worst_case: worst.epsilon,
    rdp,
    orders,
  };
  if (cost === 'realized') out.answered = answered;
  return out;
}

/**
 * A Rényi order for the smooth-sensitivity release chosen from public information only, as
 * Theorem 23 requires (λ, β and σ_ss fixed independently of the data): the order that minimises
 * the data-independent ε of `queries` threshold steps and `answered` GNMax steps. The optimum of
 * the data-dependent curve would leak the votes through the choice itself.
 */
export function publicReleaseOrder(
  queries: number, answered: number, params: ConfidentGnmaxParams, delta: number,
  orders: readonly number[] = dpAccountingOrders(), conversion: RdpConversion = 'improved',
): number {
  checkConfidentGnmaxParams(params);
  const finite = validateOrders(orders).filter((a) => Number.isFinite(a));
  check(finite.length > 0, 'orders', 'the release needs at least one finite order', 'E_INVALID_ORDERS');
  return epsilonFromRdp(finite, dataIndependentRdp(queries, answered, params, finite), delta, conversion).order;
}

export interface SmoothSensitivityOptions {
  delta: number;
  /** The Rényi order λ of the release; must not depend on the votes (see `publicReleaseOrder`). */
  order: number;
  /** Smoothness β; default 0.2/order (must be < 1/(2·order)). */
  beta?: number;
  /** Std of the GNSS noise in units of the smooth sensitivity; default σ₂. */
  sigmaSs?: number;
  /** Failure probability γ of the high-probability upper bound; default δ (so δ_total = 2δ). */
  gamma?: number;
  /** Noise multiplier of the Gaussian release of log SS (sensitivity β); default 10. */
  sigmaLogSs?: number;
  conversion?: RdpConversion;
  numTeachers: number;
}

export interface SmoothSensitivityRelease {
  /**
   * The paper's sanitized ε: convert(max(0, rdp(D) + SS·σ_ss·Z) + gnss_rdp). A DP *estimate*, not an
   * upper bound: below the true data-dependent ε about half of the time, and floored at
   * convert(gnss_rdp) when the noisy RDP is negative (it then says nothing about the votes).
   */
  epsilon: number;
  epsilon_note: string;
  /**
   * With probability ≥ 1 − γ over the release noise, at least the data-dependent ε at `order` of
   * the run plus every release here (sanitized RDP, noisy log SS); states (epsilon_upper, delta_upper).
   */
  epsilon_upper: number;
  /** δ + γ: the conversion's δ plus the chance that the bound fails. */
  delta_upper: number;
  gamma: number;
  order: number;
  beta: number;
  sigma_ss: number;
  sigma_log_ss: number;
  /** RDP at `order` paid for publishing the sanitized value (Theorem 23). */
  gnss_rdp: number;
  /** RDP at `order` paid for publishing the noisy log SS (Gaussian, sensitivity β). */
  log_ss_rdp: number;
  /** A public (noisy) upper bound on SS, holding with probability ≥ 1 − γ/2. */
  smooth_sensitivity_upper: number;
  /**
   * The released (sanitized) RDP at `order`, rdp̃ = rdp(D) + SS·σ_ss·Z₁, before any floor: `epsilon`
   * is convert(max(0, rdp̃) + gnss_rdp) and `epsilon_upper` convert(max(0, rdp̃ + SS⁺·σ_ss·Φ⁻¹(1 − γ/2))
   * + gnss_rdp + log_ss_rdp), so with this and the fields above an auditor recomputes both.
   */
  rdp_noisy: number;
  /** Data-dependent: do NOT publish these two (they are what the noise protects). */
  private_rdp_data_dependent: number;
  private_smooth_sensitivity: number;
}

/**
 * Turns local sensitivities AT distance d into the largest local sensitivity WITHIN distance d
 * (a running maximum, in place). Smooth sensitivity needs the latter, per query before the queries
 * are summed: the threshold step's sensitivity rises and falls with the max vote, and one teacher
 * moves every query's max vote, so a sum of "at d" profiles is not β-smooth (found: log SS ratio
 * 21·β between neighbours at T = 200, σ₁ = 50). The PATE 2018 reference code sums them as they are.
 */
export function withinDistance(ls: Float64Array): Float64Array {
  for (let d = 1; d < ls.length; d++) if (ls[d]! < ls[d - 1]!) ls[d] = ls[d - 1]!;
  return ls;
}

export const SMOOTH_SENSITIVITY_ESTIMATE_NOTE = "the paper's sanitized estimate (zero-mean noise), not an upper bound";

/**
 * Releases a data-dependent ε through Gaussian noise scaled by its β-smooth sensitivity
 * (PATE 2018, Sec. 4.3, Theorem 23): ε̃ = convert(rdp(D) + SS_β(D)·σ_ss·Z₁ + gnss_rdp, λ, δ),
 * and a high-probability upper bound built from published values only (Generalized PTR style,
 * Redberg–Zhu–Wang 2023): log SS is released with N(0, (βσ_l)²) noise (|log SS(D) − log SS(D′)| ≤ β),
 * SS⁺ = exp(that + βσ_l·Φ⁻¹(1 − γ/2)), rdp⁺ = rdp̃ + SS⁺·σ_ss·Φ⁻¹(1 − γ/2). rdp⁺ < rdp(D) needs
 * Z₁ < −Φ⁻¹(1 − γ/2) or SS⁺ < SS (each with probability γ/2), so it fails with probability ≤ γ; ε⁺ = convert(rdp⁺ +
 * gnss_rdp + λ/(2σ_l²), λ, δ) at δ + γ. Realized cost only. `gaussian` draws N(0,1): Z₁, then Z₂.
 */
export function releaseSmoothSensitivityEpsilon(
  queries: readonly PateQuery[], params: ConfidentGnmaxParams, options: SmoothSensitivityOptions, gaussian: () => number,
): SmoothSensitivityRelease {
  checkConfidentGnmaxParams(params);
  const order = options.order;
  const beta = options.beta ?? 0.2 / order;
  const sigmaSs = options.sigmaSs ?? params.sigma2;
  const gamma = options.gamma ?? options.delta;
  const sigmaLog = options.sigmaLogSs ?? 10;
  check(order > 1 && Number.isFinite(order), 'order', `must be a finite number > 1, got ${order}`);
  // the local-sensitivity tables run over max votes 0…numTeachers: a larger vote total has no row in them
  queries.forEach((q, i) => {
    const total = q.votes.reduce((a, b) => a + b, 0);
    check(total <= options.numTeachers, `queries[${i}].votes`, `add up to ${total}, more than num_teachers ${options.numTeachers}; pass the run's teacher count`, 'E_INVALID_VOTES');
  });
  check(beta > 0 && beta < 1 / (2 * order), 'beta', `must be in (0, 1/(2·order)) = (0, ${1 / (2 * order)}), got ${beta}`);
  check(sigmaSs > 0 && Number.isFinite(sigmaSs), 'sigma_ss', `must be > 0, got ${sigmaSs}`);
  check(gamma > 0 && gamma < 1, 'gamma', `must be in (0, 1), got ${gamma}`);
  check(sigmaLog > 0 && Number.isFinite(sigmaLog), 'sigma_log_ss', `must be > 0, got ${sigmaLog}`);
  check(Number.isSafeInteger(options.numTeachers) && options.numTeachers > 0, 'num_teachers', `must be a positive integer, got ${options.numTeachers}`);
  const n = options.numTeachers;
  const one = [order];
  const acc = new Float64Array(1);
  const lsTotal = new Float64Array(n);
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i]!;
    check(typeof q.answered === 'boolean', `queries[${i}].answered`, 'smooth-sensitivity release uses realized cost; mark each query answered or not');
    addThresholdRdp(params.threshold, params.sigma1, maxVote(q.votes), one, acc);
    const lsT = withinDistance(localSensitivityBoundsThreshold(q.votes, n, params.threshold, params.sigma1, order));
    for (let d = 0; d < n; d++) lsTotal[d] += lsT[d]!;
    if (q.answered) {
      addGnmaxRdp(logqGaussian(q.votes, params.sigma2), params.sigma2, one, acc);
      const lsG = withinDistance(localSensitivityBoundsGnmax(q.votes, n, params.sigma2, order));
      for (let d = 0; d < n; d++) lsTotal[d] += lsG[d]!;
    }
  }
  const conversion = options.conversion ?? 'improved';
  const ss = discountedMax(beta, lsTotal);
  const gnss = gnssRdp(beta, sigmaSs, order);
  const noisy = acc[0]! + ss * sigmaSs * gaussian();
  const epsilon = epsilonAtOrder(order, Math.max(0, noisy) + gnss, options.delta, conversion);
  const z = ndtri(1 - gamma / 2);
  const ssUpper = Math.exp(Math.log(ss) + beta * sigmaLog * (gaussian() + z));
  const logSsRdp = order / (2 * sigmaLog * sigmaLog);
  const upperRdp = Math.max(0, noisy + ssUpper * sigmaSs * z) + gnss + logSsRdp;
  return {
    epsilon, epsilon_note: SMOOTH_SENSITIVITY_ESTIMATE_NOTE,
    epsilon_upper: epsilonAtOrder(order, upperRdp, options.delta, conversion), delta_upper: options.delta + gamma, gamma,
    order, beta, sigma_ss: sigmaSs, sigma_log_ss: sigmaLog, gnss_rdp: gnss, log_ss_rdp: logSsRdp, smooth_sensitivity_upper: ssUpper, rdp_noisy: noisy,
    private_rdp_data_dependent: acc[0]!, private_smooth_sensitivity: ss,
  };
}
