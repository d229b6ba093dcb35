// Quantity-skew partition: lognormal client sizes with IID labels, for studying unequal sites without label skew.
import { SeededRng } from '../util/prng.ts';
import { check } from '../util/errors.ts';
import {
  type Partition, type PartitionInput, checkMinSize, checkPartitionInput, defaultMinSize, finishClients,
} from './partition-common.ts';

/** Parameters of the quantity-skew partition. */
export interface QuantityParams {
  /** Lognormal sigma of client sizes, ≥ 0: 0 gives equal sizes, 1–2 gives a few large sites. */
  readonly sigma: number;
  /** Every client gets at least this many samples. Default: defaultMinSize. */
  readonly minSize?: number;
}

/** Beyond this |largest log weight|, exp() could overflow to Infinity (or all weights underflow to 0) and the sizes would turn to NaN. */
const SAFE_LOG_WEIGHT = 600;

/**
 * exp(log weight) per client. When a log weight is too large or too small for exp (a large sigma),
 * they are shifted by their maximum first, which leaves the proportions unchanged; below that,
 * exp is applied as is, so every partition made before this guard is reproduced bit for bit.
 */
function lognormalWeights(logs: number[]): number[] {
  const max = Math.max(...logs);
  const shift = Math.abs(max) > SAFE_LOG_WEIGHT ? max : 0;
  return logs.map((l) => Math.exp(l - shift));
}

/**
 * Client weights w_i = exp(sigma·z_i), z_i standard normal. Each client first gets minSize
 * samples, the rest are shared in proportion to w (floors, then largest remainders, ties to
 * the lower client). Sizes are then cut from one seeded shuffle, so labels stay IID.
 */
export function quantityPartition(input: PartitionInput & QuantityParams): Partition {
  checkPartitionInput(input);
  const { labels, numClasses, clients, seed, sigma } = input;
  check(Number.isFinite(sigma) && sigma >= 0, 'sigma', `the lognormal sigma must be a finite number >= 0, got ${sigma}`);
  const n = labels.length;
  const minSize = input.minSize ?? defaultMinSize(n, clients);
  checkMinSize(minSize, n, clients);

  const rng = new SeededRng(seed);
  const weights = lognormalWeights(Array.from({ length: clients }, () => sigma * rng.normal()));
  const wsum = weights.reduce((a, b) => a + b, 0);
  const rest = n - minSize * clients;
  const sizes = weights.map((w) => minSize + Math.floor((w / wsum) * rest));
  let left = n - sizes.reduce((a, b) => a + b, 0);
  const byRemainder = weights
    .map((w, i) => ({ i, r: (w / wsum) * rest - Math.floor((w / wsum) * rest) }))
    .sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % clients, left--) sizes[byRemainder[k]!.i]!++;

  const perm = rng.permutation(n);
  const lists: Uint32Array[] = [];
  let at = 0;
  for (const size of sizes) { lists.push(perm.subarray(at, at + size)); at += size; }
  return { scheme: 'quantity', params: { sigma, minSize }, seed, clients: finishClients(lists, labels, numClasses) };
}
