// Support gate: post-processing of a noised soft-label sum that withholds the rows too few contributors back (swing risk = low support).
//
// Why: a secret held by one site shows up in a release as a row whose top class only that site
// backs, while ordinary knowledge is backed by most sites. Confidence cannot tell the two apart
// (a memorised canary and a clean digit are both predicted with p ≈ 1); support can. The gate
// reads support from the *noised* sum only, pooled over the row's nearest public neighbours
// (public features, public computation), so it is post-processing: it costs no privacy and the
// accountant's ε for the Gaussian sum stays exactly right. Never call it on an un-noised sum.
import { check } from '../util/errors.ts';

export interface SupportGatePolicy {
  /**
   * Pooled noised support (in contributors, each contributing ≤ clip = 1 per class) that a
   * row's top class must reach for the row to be released. Rows below it are withheld: an
   * infinite swing temperature. Must be above 1 to hide what a single contributor alone backs.
   */
  minSupport: number;
  /** Nearest public rows (by correlation of their features) pooled with each row; 0 pools nothing. Default 15. */
  neighbours: number;
  /** Weight of the row itself against weight 1 for each neighbour. Default 3. */
  selfWeight: number;
}

export const SUPPORT_GATE_DEFAULTS = { neighbours: 15, selfWeight: 3 } as const;

/** Largest public set whose similarity matrix is kept (4096² float32 = 64 MB); above it pairs are computed twice. */
const SYMMETRIC_ROWS = 4096;

/** Checks a gate policy, naming the field that is wrong. */
export function checkSupportGate(p: SupportGatePolicy, field: string): void {
  check(Number.isFinite(p.minSupport) && p.minSupport > 0, `${field}.min_support`, `must be a positive number of contributors, got ${p.minSupport}`);
  check(Number.isSafeInteger(p.neighbours) && p.neighbours >= 0, `${field}.neighbours`, `must be a non-negative integer, got ${p.neighbours}`);
  check(Number.isFinite(p.selfWeight) && p.selfWeight > 0, `${field}.self_weight`, `must be > 0, got ${p.selfWeight}`);
}

/**
 * The k nearest other rows of each public row, most similar first, by Pearson correlation of
 * their features (each row centred and scaled to unit norm, so brightness and scale do not
 * matter). Row r's neighbours are out[r·k … r·k + k − 1]. Ties go to the lower index, so the
 * result is deterministic. O(rows² · dim) time (each pair once, with a rows² similarity matrix of
 * ≤ 64 MB, up to SYMMETRIC_ROWS rows): a few seconds for 1,300 MNIST rows on one core.
 */
export function publicNeighbours(features: ArrayLike<number>, rows: number, k: number): Int32Array {
  check(Number.isSafeInteger(rows) && rows > 0, 'rows', `must be a positive integer, got ${rows}`);
  check(features.length % rows === 0, 'features', `has ${features.length} values, not a multiple of ${rows} rows`);
  check(Number.isSafeInteger(k) && k >= 0 && k < rows, 'neighbours', `must be an integer in [0, ${rows - 1}] (fewer than the public rows), got ${k}`);
  if (k === 0) return new Int32Array(0);
  const dim = features.length / rows;
  const unit = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += features[r * dim + i]!;
    mean /= dim;
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += (features[r * dim + i]! - mean) ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let i = 0; i < dim; i++) unit[r * dim + i] = (features[r * dim + i]! - mean) * scale;
  }
  const dot = (r: number, q: number): number => {
    const a = r * dim, b = q * dim;
    let d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    let i = 0;
    for (; i + 3 < dim; i += 4) {
      d0 += unit[a + i]! * unit[b + i]!;
      d1 += unit[a + i + 1]! * unit[b + i + 1]!;
      d2 += unit[a + i + 2]! * unit[b + i + 2]!;
      d3 += unit[a + i + 3]! * unit[b + i + 3]!;
    }
    for (; i < dim; i++) d0 += unit[a + i]! * unit[b + i]!;
    return d0 + d1 + d2 + d3;
  };
  // Up to SYMMETRIC_ROWS rows, keep the (symmetric) similarity matrix and compute each pair once.
  const sim = rows <= SYMMETRIC_ROWS ? new Float32Array(rows * rows) : null;
  if (sim) {
    for (let r = 0; r < rows; r++) for (let q = r + 1; q < rows; q++) sim[r * rows + q] = sim[q * rows + r] = dot(r, q);
  }
  const out = new Int32Array(rows * k);
  const bestSim = new Float64Array(k);
  const bestIdx = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    bestSim.fill(-Infinity);
    bestIdx.fill(-1);
    for (let q = 0; q < rows; q++) {
      if (q === r) continue;
      const d = sim ? sim[r * rows + q]! : dot(r, q);
      if (d <= bestSim[k - 1]!) continue; // equal similarity: the earlier (lower) index stays
      let j = k - 1;
      while (j > 0 && bestSim[j - 1]! < d) { bestSim[j] = bestSim[j - 1]!; bestIdx[j] = bestIdx[j - 1]!; j--; }
      bestSim[j] = d;
      bestIdx[j] = q;
    }
    out.set(bestIdx, r * k);
  }
  return out;
}

/**
 * Each row's noised sum averaged with its neighbours' (weight `selfWeight` for itself, 1 for
 * each neighbour). Noise that is independent per row shrinks by √(effective rows pooled), so a
 * support threshold can be read from a z that would drown it in a single row; knowledge that
 * only one contributor holds stays at ≈ 1 contributor of support, or is diluted further when
 * the row is an outlier whose neighbours say something else.
 */
export function poolOverNeighbours(noisySum: ArrayLike<number>, rows: number, cols: number, neighbours: Int32Array, k: number, selfWeight: number): Float64Array {
  check(noisySum.length === rows * cols, 'noisySum', `has ${noisySum.length} entries; expected ${rows}×${cols}`);
  check(neighbours.length === rows * k, 'neighbours', `has ${neighbours.length} entries; expected ${rows}×${k}`);
  const out = new Float64Array(rows * cols);
  const total = selfWeight + k;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[o + c] = selfWeight * noisySum[o + c]!;
    for (let j = 0; j < k; j++) {
      const q = neighbours[r * k + j]!;
      for (let c = 0; c < cols; c++) out[o + c] += noisySum[q * cols + c]!;
    }
    for (let c = 0; c < cols; c++) out[o + c] /= total;
  }
  return out;
}

export interface SupportGateResult {
  /** The pooled noised sums (rows × cols): what released rows are built from. */
  pooled: Float64Array;
  /** Per row, the pooled support of its top class, in contributors. */
  support: Float64Array;
  /** Per row, the swing risk 1 − support / contributors, clamped to [0, 1]. */
  risk: Float64Array;
  /** 1 where the row is released, 0 where it is withheld (support < minSupport). */
  released: Uint8Array;
}

/**
 * Pools the noised sum over public neighbours and releases only the rows whose top class
 * reaches `minSupport` contributors. `publicFeatures` are the public rows' features (any
 * shape, row-major); `contributors` is how many replies were summed, each clipped to L2 ≤ `clip`
 * (so one contributor adds at most `clip` to a class: support is counted in units of clip).
 */
export function supportGate(noisySum: ArrayLike<number>, rows: number, cols: number, contributors: number, clip: number, publicFeatures: ArrayLike<number>, policy: SupportGatePolicy): SupportGateResult {
  checkSupportGate(policy, 'support_gate');
  check(Number.isSafeInteger(contributors) && contributors > 0, 'contributors', `must be a positive integer, got ${contributors}`);
  check(Number.isFinite(clip) && clip > 0, 'clip', `must be > 0, got ${clip}`);
  const k = Math.min(policy.neighbours, rows - 1);
  const nb = publicNeighbours(publicFeatures, rows, k);
  const pooled = poolOverNeighbours(noisySum, rows, cols, nb, k, policy.selfWeight);
  const support = new Float64Array(rows);
  const risk = new Float64Array(rows);
  const released = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    let top = -Infinity;
    for (let c = 0; c < cols; c++) top = Math.max(top, pooled[r * cols + c]!);
    top /= clip;
    support[r] = top;
    risk[r] = Math.min(1, Math.max(0, 1 - top / contributors));
    released[r] = top >= policy.minSupport ? 1 : 0;
  }
  return { pooled, support, risk, released };
}
