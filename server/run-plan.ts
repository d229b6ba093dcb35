// A run's privacy plan before it starts: what each round charges, the ε after every round, and where the budget stops it.
import type { PrivacyEvent } from '../shared/privacy/events.ts';
import { RdpAccountant } from '../shared/privacy/rdp-accountant.ts';
import { confidentGnmaxWorstCase } from '../shared/privacy/pate-accounting.ts';
import { centralReleaseSensitivity, gaussianRowsCharge } from '../shared/privacy/soft-labels.ts';
import type { RunConfig } from './run-config.ts';
import { rowsPerRound } from './strategies/strategy.ts';

export interface RunPlan {
  /** What one round charges (PATE: as if every query were answered, the most it can cost). */
  roundEvent: PrivacyEvent;
  /** Whether `roundEvent` is exact (soft labels) or an upper bound (PATE answers only some queries). */
  exact: boolean;
  /** ε at the run's δ after rounds 1…N. */
  epsilonPerRound: number[];
  /** Rounds that fit the budget at their worst: the run stops before querying round roundsWithinBudget + 1 (PATE: at the earliest). */
  roundsWithinBudget: number;
  budget: { epsilon: number; delta: number };
}

/**
 * The charge of one round of `c`, before any site has answered: soft labels cost one Gaussian per
 * row at the replace-one sensitivity on `numClasses` columns; PATE costs at most the threshold step
 * and GNMax for each query. A round asks min(queries_per_round, public set size) rows, as the
 * aggregator does (rowsPerRound). Data-dependent PATE accounting charges less, never more.
 */
export function roundCharge(c: RunConfig, numClasses: number, publicSize: number): { event: PrivacyEvent; exact: boolean } {
  const s = c.strategy;
  const rows = rowsPerRound(s.queriesPerRound, publicSize);
  if (s.name === 'pate') {
    return { event: confidentGnmaxWorstCase(rows, s), exact: false };
  }
  const { clip, noiseMultiplier, teachersPerSite } = c.privacy;
  const sensitivity = centralReleaseSensitivity(clip, numClasses, teachersPerSite);
  return { event: gaussianRowsCharge(noiseMultiplier * clip, sensitivity, rows), exact: true };
}

/**
 * The plan for `c` (its budget and δ, the dp_accounting orders and the improved conversion, as the
 * ledger uses), for a public set of `publicSize` samples: a round asks no more rows than it has.
 */
export function planRun(c: RunConfig, numClasses: number, publicSize: number): RunPlan {
  const { event, exact } = roundCharge(c, numClasses, publicSize);
  const acc = new RdpAccountant();
  const epsilonPerRound: number[] = [];
  let roundsWithinBudget = 0;
  for (let r = 0; r < c.rounds; r++) {
    acc.compose(event);
    const eps = acc.getEpsilon(c.privacy.delta).epsilon;
    epsilonPerRound.push(eps);
    if (eps <= c.privacy.epsilon && roundsWithinBudget === r) roundsWithinBudget = r + 1;
  }
  return { roundEvent: event, exact, epsilonPerRound, roundsWithinBudget, budget: { epsilon: c.privacy.epsilon, delta: c.privacy.delta } };
}

/** The plan in one or two log lines: a run that will hit its budget says so before any site trains. */
export function describePlan(p: RunPlan): string[] {
  const n = p.epsilonPerRound.length;
  const last = p.epsilonPerRound[n - 1] ?? 0;
  const bound = p.exact ? '' : 'at most ';
  const lines = [`privacy plan: ${n} round(s), ε ${bound}${last.toPrecision(4)} at δ = ${p.budget.delta} after the last (round 1: ${bound}${(p.epsilonPerRound[0] ?? 0).toPrecision(4)}); budget ε = ${p.budget.epsilon}`];
  if (p.roundsWithinBudget < n) {
    lines.push(`privacy plan: the budget ${p.exact ? 'stops' : 'may stop'} the run after round ${p.roundsWithinBudget} of ${n}; raise privacy.noise_multiplier (or sigma1/sigma2), or lower queries_per_round or rounds, to fit it`);
  }
  return lines;
}
