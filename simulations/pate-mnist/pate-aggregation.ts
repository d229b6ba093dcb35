// Confident-GNMax over the teachers' votes, and the privacy figures of the run (realized, expected, replayed, data-independent, released).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ConfidentGnmaxParams, CryptoRng, type PrivacyEvent, analyzeConfidentGnmax, confidentGnmax, dpAccountingOrders,
  epsilonFromEvents, pate2018Orders, publicReleaseOrder, releaseSmoothSensitivityEpsilon,
} from '../../shared/privacy/index.ts';

/** What the aggregator released: a label per answered query, and what each query was charged. */
export interface Aggregation {
  answered: boolean[];
  /** The released label, or −1 where the query was not answered. */
  labels: number[];
  /** Realized charges, in query order (pate_threshold for every query, pate_gnmax when answered). */
  events: PrivacyEvent[];
}

/** Runs Confident-GNMax on every query with cryptographic noise (a fresh draw on every run). */
function aggregateVotes(votes: readonly number[][], params: ConfidentGnmaxParams, rng = new CryptoRng()): Aggregation {
  const answered: boolean[] = [];
  const labels: number[] = [];
  const events: PrivacyEvent[] = [];
  for (const v of votes) {
    const r = confidentGnmax(v, params, rng);
    answered.push(r.answered);
    labels.push(r.answered ? r.label! : -1);
    events.push(...r.events);
  }
  return { answered, labels, events };
}

const ANSWERS_CACHE_FILE = 'pate-answers.json';

/**
 * Aggregates once per set of votes and mechanism parameters: the released answers and their
 * charges are kept in `outDir`, so that iterating on the student reuses the one release already
 * paid for instead of drawing (and spending) again. Delete the file to draw anew.
 */
export function cachedAggregation(votes: readonly number[][], params: ConfidentGnmaxParams, outDir: string | undefined): Aggregation & { fromCache: boolean } {
  const key = createHash('sha256').update(JSON.stringify({ votes, threshold: params.threshold, sigma1: params.sigma1, sigma2: params.sigma2 })).digest('hex');
  const path = outDir ? join(outDir, ANSWERS_CACHE_FILE) : undefined;
  if (path && existsSync(path)) {
    try {
      const c = JSON.parse(readFileSync(path, 'utf8')) as Aggregation & { key: string };
      if (c.key === key) return { answered: c.answered, labels: c.labels, events: c.events, fromCache: true };
    } catch { /* unreadable: aggregate anew */ }
  }
  const agg = aggregateVotes(votes, params);
  if (path && outDir) {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(`${path}.tmp`, JSON.stringify({ key, ...agg }));
    renameSync(`${path}.tmp`, path);
  }
  return { ...agg, fromCache: false };
}

export interface PrivacySettings { delta: number; orders: 'pate2018' | 'dp-accounting'; conversion: 'classic' | 'improved' }

export interface PrivacyFigures {
  unit: 'example';
  delta: number;
  orders: string;
  conversion: string;
  /**
   * The paper's convention: threshold step for every query + P[answered]·GNMax. Data-dependent, and a
   * paper-comparable expectation, not a guarantee (`note`). Its `epsilon_data_independent` is the
   * worst case (every query answered): without answered flags nothing smaller is vote-free.
   */
  expected: { epsilon: number; order: number; expected_answered: number; epsilon_data_independent: number; note: string };
  /**
   * What this run charged: threshold for every query + GNMax for the answered ones. `epsilon` is
   * data-dependent (private); `epsilon_data_independent` uses only the answered flags: publishable.
   */
  realized: { epsilon: number; order: number; answered: number; epsilon_data_independent: number; order_data_independent: number; note: string };
  /** ε recomputed by the generic RDP accountant from the charged events alone (an auditor's replay). */
  replayed: { epsilon: number; order: number; events: number };
  /**
   * The realized data-dependent ε released through smooth sensitivity at an order fixed from public
   * information (the data-independent optimum): the paper's estimate `epsilon` (noisy, not a bound)
   * and `epsilon_upper`, which holds at `delta_upper` = δ + γ with probability ≥ 1 − γ.
   */
  smooth_sensitivity: {
    epsilon: number; epsilon_note: string; epsilon_upper: number; delta_upper: number; gamma: number;
    order: number; beta: number; sigma_ss: number; sigma_log_ss: number; gnss_rdp: number; log_ss_rdp: number;
    /** Public: SS⁺ and the noisy RDP before its floor, from which epsilon and epsilon_upper are recomputed. */
    smooth_sensitivity_upper: number; rdp_noisy: number;
  };
}

/**
 * Accounts the run both ways the reference analysis does, and replays the realized events through
 * the generic accountant as a cross-check: the replayed ε must equal the realized one. The
 * smooth-sensitivity release's order comes from public quantities only (Theorem 23).
 */
export function pateFigures(
  votes: readonly number[][], agg: Aggregation, params: ConfidentGnmaxParams, p: PrivacySettings, teachers: number, rng = new CryptoRng(),
): PrivacyFigures {
  const orders = p.orders === 'pate2018' ? pate2018Orders() : dpAccountingOrders();
  const base = { delta: p.delta, orders, conversion: p.conversion };
  const exp = analyzeConfidentGnmax(votes.map((v) => ({ votes: v })), params, { ...base, cost: 'expected' });
  const queries = votes.map((v, i) => ({ votes: v, answered: agg.answered[i]! }));
  const real = analyzeConfidentGnmax(queries, params, { ...base, cost: 'realized' });
  const replay = epsilonFromEvents(agg.events, p.delta, { orders, conversion: p.conversion });
  const order = publicReleaseOrder(queries.length, real.answered!, params, p.delta, orders, p.conversion);
  const ss = releaseSmoothSensitivityEpsilon(queries, params,
    { delta: p.delta, order, numTeachers: teachers, conversion: p.conversion }, () => rng.gaussian(1));
  return {
    unit: 'example',
    delta: p.delta,
    orders: p.orders,
    conversion: p.conversion,
    expected: {
      epsilon: exp.epsilon, order: exp.order, expected_answered: exp.expected_answered,
      epsilon_data_independent: exp.epsilon_data_independent, note: exp.epsilon_note,
    },
    realized: {
      epsilon: real.epsilon, order: real.order, answered: real.answered!,
      epsilon_data_independent: real.epsilon_data_independent, order_data_independent: real.order_data_independent, note: real.epsilon_note,
    },
    replayed: { epsilon: replay.epsilon, order: replay.order, events: agg.events.length },
    smooth_sensitivity: {
      epsilon: ss.epsilon, epsilon_note: ss.epsilon_note, epsilon_upper: ss.epsilon_upper, delta_upper: ss.delta_upper, gamma: ss.gamma,
      order: ss.order, beta: ss.beta, sigma_ss: ss.sigma_ss, sigma_log_ss: ss.sigma_log_ss, gnss_rdp: ss.gnss_rdp, log_ss_rdp: ss.log_ss_rdp,
      smooth_sensitivity_upper: ss.smooth_sensitivity_upper, rdp_noisy: ss.rdp_noisy,
    },
  };
}
