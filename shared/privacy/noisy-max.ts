// Noisy-argmax aggregation of teacher votes: GNMax, Confident-GNMax and LNMax, each returning what to charge.
import { check } from '../util/errors.ts';
import type { PrivacyEvent } from './events.ts';
import type { CryptoRng } from './rng.ts';
import type { ConfidentGnmaxParams } from './pate-accounting.ts';

/**
 * Which noise GNMax adds to the counts. `continuous` (default) matches the data-dependent PATE
 * analysis; `discrete` (exact CKS discrete Gaussian, integer votes only) has the same
 * data-independent RDP α/σ² — charge it with a pate_gnmax event *without* votes.
 */
export type VoteNoise = 'continuous' | 'discrete';

function checkVotes(votes: ArrayLike<number>, field = 'votes'): void {
  check(votes.length >= 2, field, `needs at least 2 classes, got ${votes.length}`);
  for (let i = 0; i < votes.length; i++) {
    const v = votes[i]!;
    check(Number.isFinite(v) && v >= 0, `${field}[${i}]`, `votes must be finite and ≥ 0, got ${v}`);
  }
}

function checkSigma(sigma: number, field: string): void {
  check(Number.isFinite(sigma) && sigma > 0, field, `must be a positive finite number, got ${sigma}`);
}

/** Index of the largest noisy count (first one on ties). */
function noisyArgmax(votes: ArrayLike<number>, noise: () => number): number {
  let best = 0;
  let bestVal = -Infinity;
  for (let i = 0; i < votes.length; i++) {
    const v = votes[i]! + noise();
    if (v > bestVal) { bestVal = v; best = i; }
  }
  return best;
}

/** GNMax: argmax of votes + N(0, σ²) per class (Papernot et al. 2018). */
export function gnmax(votes: ArrayLike<number>, sigma: number, rng: CryptoRng, noise: VoteNoise = 'continuous'): number {
  checkVotes(votes);
  checkSigma(sigma, 'sigma');
  if (noise === 'discrete') {
    for (let i = 0; i < votes.length; i++) check(Number.isInteger(votes[i]), `votes[${i}]`, 'discrete noise needs integer vote counts');
    return noisyArgmax(votes, () => rng.discreteGaussian(sigma));
  }
  return noisyArgmax(votes, () => rng.gaussian(sigma));
}

/** The integer vote histogram plus exact discrete Gaussian noise, for releasing noisy counts themselves. */
export function noisyVoteHistogram(votes: ArrayLike<number>, sigma: number, rng: CryptoRng): Int32Array {
  checkVotes(votes);
  checkSigma(sigma, 'sigma');
  const out = new Int32Array(votes.length);
  for (let i = 0; i < votes.length; i++) {
    check(Number.isInteger(votes[i]), `votes[${i}]`, 'discrete noise needs integer vote counts');
    out[i] = votes[i]! + rng.discreteGaussian(sigma);
  }
  return out;
}

export interface NoisyMaxResult {
  answered: boolean;
  /** The released label when answered. */
  label?: number;
  /** What this query costs (realized): charge them, in one ledger step, before releasing the label. */
  events: PrivacyEvent[];
}

/**
 * Confident-GNMax: answer only if max vote + N(0, σ₁²) ≥ T, then GNMax with σ₂. The events are
 * data-dependent (they carry the votes); publish an ε from them only through smooth-sensitivity
 * release, or charge the data-independent form (drop votes/max_vote).
 */
export function confidentGnmax(votes: ArrayLike<number>, params: ConfidentGnmaxParams, rng: CryptoRng): NoisyMaxResult {
  checkVotes(votes);
  check(Number.isFinite(params.threshold), 'threshold', `must be a finite number, got ${params.threshold}`);
  checkSigma(params.sigma1, 'sigma1');
  checkSigma(params.sigma2, 'sigma2');
  let max = 0;
  for (let i = 0; i < votes.length; i++) if (votes[i]! > max) max = votes[i]!;
  const events: PrivacyEvent[] = [{ type: 'pate_threshold', sigma: params.sigma1, threshold: params.threshold, max_vote: max }];
  if (max + rng.gaussian(params.sigma1) < params.threshold) return { answered: false, events };
  events.push({ type: 'pate_gnmax', sigma: params.sigma2, votes: Array.from(votes) });
  return { answered: true, label: noisyArgmax(votes, () => rng.gaussian(params.sigma2)), events };
}

/**
 * LNMax: argmax of votes + Laplace(b) (PATE 2017). One teacher changes two counts by 1, so a
 * query is (2/b)-DP; it is charged as a pure event with ε = 2/b.
 */
export function lnmax(votes: ArrayLike<number>, scale: number, rng: CryptoRng): NoisyMaxResult {
  checkVotes(votes);
  checkSigma(scale, 'scale');
  return { answered: true, label: noisyArgmax(votes, () => rng.laplace(scale)), events: [{ type: 'pure', epsilon: 2 / scale }] };
}
