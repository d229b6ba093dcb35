// Canary exposure (Carlini et al., "The Secret Sharer"): how far up a model ranks a planted secret among all candidates.
import { check } from '../../util/errors.ts';

/** The largest candidate space ranked exactly (meet in the middle: two halves of ≤ 10⁶ sums each). */
const MAX_EXPOSURE_CANDIDATES = 1e12;

/**
 * Rank of `secret` among all label sequences r ∈ {0..C−1}^L, ordered by the model's score
 * Σ_j logProbs[j][r_j] (highest first): 1 + the number of sequences scoring strictly higher
 * (within 1e-9, ties do not count against the secret). `logProbs` is L rows of C values.
 * Counted exactly by meet in the middle: enumerate the sums of each half, sort one, binary search.
 */
export function secretRank(logProbs: ArrayLike<number>, classes: number, secret: ArrayLike<number>): number {
  const L = secret.length;
  check(L > 0, 'secret', 'must have at least one position');
  check(logProbs.length === L * classes, 'logProbs', `has ${logProbs.length} entries; expected ${L} positions × ${classes} classes`);
  check(classes ** L <= MAX_EXPOSURE_CANDIDATES, 'secret', `${classes}^${L} candidates are too many to rank exactly (max ${MAX_EXPOSURE_CANDIDATES})`);
  let target = 0;
  for (let j = 0; j < L; j++) {
    const s = secret[j]!;
    check(Number.isInteger(s) && s >= 0 && s < classes, `secret[${j}]`, `must be a class in 0..${classes - 1}, got ${s}`);
    target += logProbs[j * classes + s]!;
  }
  const half = Math.ceil(L / 2);
  const left = sums(logProbs, classes, 0, half);
  const right = sums(logProbs, classes, half, L).sort();
  const eps = 1e-9 * (1 + Math.abs(target));
  let higher = 0;
  for (const a of left) higher += right.length - upperBound(right, target - a + eps);
  return higher + 1;
}

/** All C^(to−from) sums over positions from..to−1 (one entry for an empty range). */
function sums(logProbs: ArrayLike<number>, classes: number, from: number, to: number): Float64Array {
  let out = new Float64Array([0]);
  for (let j = from; j < to; j++) {
    const next = new Float64Array(out.length * classes);
    for (let i = 0; i < out.length; i++) {
      for (let c = 0; c < classes; c++) next[i * classes + c] = out[i]! + logProbs[j * classes + c]!;
    }
    out = next;
  }
  return out;
}

/** Index of the first element > x in an ascending array. */
function upperBound(a: Float64Array, x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * Exposure in bits: log2(C^L) − log2(rank). The secret ranked first among C^L candidates has
 * the full L·log2(C) bits; a model that learned nothing about it has an expected exposure of
 * only 1/ln 2 ≈ 1.44 bits (rank uniform over the candidates).
 */
export function canaryExposure(logProbs: ArrayLike<number>, classes: number, secret: ArrayLike<number>): number {
  return secret.length * Math.log2(classes) - Math.log2(secretRank(logProbs, classes, secret));
}

/** Expected exposure of a model that knows nothing of the secret (rank uniform on 1..N): log2 N − E[log2 rank]. */
export function chanceExposure(candidates: number): number {
  if (candidates > 1e6) return 1 / Math.LN2; // the large-N limit, to 1e-6 bits
  let s = 0;
  for (let r = 1; r <= candidates; r++) s += Math.log2(r);
  return Math.log2(candidates) - s / candidates;
}
