// ROC AUC of an attack score by ranking (Mann–Whitney U): how well a score separates members from non-members.
import { check } from '../../util/errors.ts';

/**
 * Area under the ROC curve of `score` as a member detector: the probability that a random
 * member scores higher than a random non-member, ties counting one half. 0.5 is chance; an
 * attack on a private model should stay near it. Computed from midranks in O(n log n).
 */
export function rocAuc(memberScores: ArrayLike<number>, nonMemberScores: ArrayLike<number>): number {
  const m = memberScores.length;
  const n = nonMemberScores.length;
  check(m > 0 && n > 0, 'scores', `need at least one member and one non-member score, got ${m} and ${n}`);
  const all: { s: number; member: boolean }[] = [];
  for (let i = 0; i < m; i++) all.push({ s: finite(memberScores[i]!, 'memberScores', i), member: true });
  for (let i = 0; i < n; i++) all.push({ s: finite(nonMemberScores[i]!, 'nonMemberScores', i), member: false });
  all.sort((a, b) => a.s - b.s);
  let memberRankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const midrank = (i + 1 + j) / 2; // ranks i+1..j share their mean
    for (let k = i; k < j; k++) if (all[k]!.member) memberRankSum += midrank;
    i = j;
  }
  return (memberRankSum - (m * (m + 1)) / 2) / (m * n);
}

function finite(v: number, field: string, i: number): number {
  check(Number.isFinite(v), `${field}[${i}]`, `must be a finite number, got ${v}`);
  return v;
}

/** One operating point of a threshold attack "member iff score ≥ threshold", as counts. */
export interface ThresholdCounts {
  threshold: number;
  /** Members flagged (true positives) out of `members`. */
  truePositives: number;
  members: number;
  /** Non-members flagged (false positives) out of `nonMembers`. */
  falsePositives: number;
  nonMembers: number;
}

/**
 * Every distinct operating point of "member iff score ≥ t", for t over the distinct scores
 * (plus +∞, flagging nobody). Used to pick a threshold and to bound ε from it.
 */
export function thresholdSweep(memberScores: ArrayLike<number>, nonMemberScores: ArrayLike<number>): ThresholdCounts[] {
  const m = memberScores.length;
  const n = nonMemberScores.length;
  const all: { s: number; member: boolean }[] = [];
  for (let i = 0; i < m; i++) all.push({ s: memberScores[i]!, member: true });
  for (let i = 0; i < n; i++) all.push({ s: nonMemberScores[i]!, member: false });
  all.sort((a, b) => b.s - a.s);
  const out: ThresholdCounts[] = [{ threshold: Infinity, truePositives: 0, members: m, falsePositives: 0, nonMembers: n }];
  let tp = 0, fp = 0;
  for (let i = 0; i < all.length;) {
    const t = all[i]!.s;
    while (i < all.length && all[i]!.s === t) { if (all[i]!.member) tp++; else fp++; i++; }
    out.push({ threshold: t, truePositives: tp, members: m, falsePositives: fp, nonMembers: n });
  }
  return out;
}
