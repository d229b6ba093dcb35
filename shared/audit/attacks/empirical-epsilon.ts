// The ε lower bound a membership attack proves: DP's hypothesis-testing bound at Clopper–Pearson confidence.
import { check } from '../../util/errors.ts';
import { SeededRng } from '../../util/prng.ts';
import { clopperPearson } from './clopper-pearson.ts';
import { type ThresholdCounts, thresholdSweep } from './roc-auc.ts';

export interface EpsilonBoundOptions {
  /** The δ of the (ε, δ) guarantee being tested. */
  delta: number;
  /** Probability that the bound holds, e.g. 0.95. */
  confidence: number;
}

export interface OperatingPointBound {
  epsilonLowerBound: number;
  tpr: number;
  fpr: number;
  /** Clopper–Pearson lower end of the true-positive rate. */
  tprLower: number;
  /** Clopper–Pearson upper end of the false-positive rate. */
  fprUpper: number;
}

/**
 * What one operating point proves. An (ε, δ)-DP mechanism forces every test to satisfy
 * TPR ≤ e^ε·FPR + δ and 1 − FPR ≤ e^ε·(1 − TPR) + δ, so ε ≥ log((TPR − δ)/FPR) and
 * ε ≥ log((1 − FPR − δ)/(1 − TPR)). Using TPR's lower and FPR's upper Clopper–Pearson ends
 * (each one-sided at (1 − confidence)/2), the bound holds with probability ≥ confidence.
 */
export function operatingPointBound(c: ThresholdCounts, o: EpsilonBoundOptions): OperatingPointBound {
  check(o.delta >= 0 && o.delta < 1, 'delta', `must be in [0, 1), got ${o.delta}`);
  const tpr = clopperPearson(c.truePositives, c.members, o.confidence);
  const fpr = clopperPearson(c.falsePositives, c.nonMembers, o.confidence);
  const tprLower = tpr.lower;
  const fprUpper = fpr.upper;
  const a = fprUpper > 0 && tprLower - o.delta > 0 ? Math.log((tprLower - o.delta) / fprUpper) : -Infinity;
  const b = tprLower < 1 && 1 - fprUpper - o.delta > 0 ? Math.log((1 - fprUpper - o.delta) / (1 - tprLower)) : -Infinity;
  return {
    epsilonLowerBound: Math.max(0, a, b),
    tpr: c.truePositives / c.members,
    fpr: c.falsePositives / c.nonMembers,
    tprLower,
    fprUpper,
  };
}

export interface EmpiricalEpsilon extends OperatingPointBound {
  /** The threshold chosen on the selection half ("member iff score ≥ threshold"). */
  threshold: number;
  delta: number;
  confidence: number;
  /** Members / non-members in the selection half and in the evaluation half. */
  selection: { members: number; nonMembers: number };
  evaluation: { members: number; nonMembers: number };
}

function halves(scores: ArrayLike<number>, rng: SeededRng): [number[], number[]] {
  const order = rng.permutation(scores.length);
  const mid = Math.floor(scores.length / 2);
  return [Array.from(order.subarray(0, mid), (i) => scores[i]!), Array.from(order.subarray(mid), (i) => scores[i]!)];
}

/**
 * The empirical ε lower bound of the attack "member iff score ≥ t". The scores are split
 * (seeded) into two halves: the threshold is the one with the best bound on the selection
 * half, and the bound is computed on the untouched evaluation half, so choosing the best of
 * many thresholds does not weaken the stated confidence.
 */
export function empiricalEpsilon(memberScores: ArrayLike<number>, nonMemberScores: ArrayLike<number>, o: EpsilonBoundOptions & { seed: number | string }): EmpiricalEpsilon {
  check(memberScores.length >= 2 && nonMemberScores.length >= 2, 'scores', 'need at least two members and two non-members (one of each per half)');
  const rng = new SeededRng(`fedistill/audit/epsilon-split/${o.seed}`);
  const [selM, evalM] = halves(memberScores, rng);
  const [selN, evalN] = halves(nonMemberScores, rng);
  let best = { threshold: Infinity, bound: -1 };
  for (const c of thresholdSweep(selM, selN)) {
    const b = operatingPointBound(c, o).epsilonLowerBound;
    if (b > best.bound) best = { threshold: c.threshold, bound: b };
  }
  const tp = evalM.filter((s) => s >= best.threshold).length;
  const fp = evalN.filter((s) => s >= best.threshold).length;
  const point = operatingPointBound({ threshold: best.threshold, truePositives: tp, members: evalM.length, falsePositives: fp, nonMembers: evalN.length }, o);
  return {
    ...point,
    threshold: best.threshold,
    delta: o.delta,
    confidence: o.confidence,
    selection: { members: selM.length, nonMembers: selN.length },
    evaluation: { members: evalM.length, nonMembers: evalN.length },
  };
}
