// Soft-label release: per-sample L2 clipping, then Gaussian noise on the sum (central) or on each reply (local).
import { check } from '../util/errors.ts';
import type { PrivacyEvent } from './events.ts';
import type { CryptoRng } from './rng.ts';
import { addGridGaussian, float32Step, gridRoundingSlack } from './grid-gaussian.ts';

function checkShape(data: ArrayLike<number>, rows: number, cols: number, field: string): void {
  check(Number.isSafeInteger(rows) && rows >= 0, 'rows', `must be a non-negative integer, got ${rows}`);
  check(Number.isSafeInteger(cols) && cols > 0, 'cols', `must be a positive integer, got ${cols}`);
  check(data.length === rows * cols, field, `has ${data.length} entries; expected rows × cols = ${rows * cols}`);
}

/**
 * Scales each row (one sample's soft label) to L2 norm ≤ clip, which bounds how far one
 * contributor can move a sum of rows (replaceOneSensitivity). Returns a new array; NaN/∞ entries are an error (they would break the bound).
 */
export function clipL2Rows(matrix: ArrayLike<number>, rows: number, cols: number, clip: number): Float64Array {
  checkShape(matrix, rows, cols, 'matrix');
  check(Number.isFinite(clip) && clip > 0, 'clip', `must be a positive finite number, got ${clip}`);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let c = 0; c < cols; c++) {
      const v = matrix[r * cols + c]!;
      check(Number.isFinite(v), `matrix[${r}][${c}]`, `must be finite, got ${v}`);
      sq += v * v;
    }
    const norm = Math.sqrt(sq);
    const f = norm > clip ? clip / norm : 1;
    for (let c = 0; c < cols; c++) out[r * cols + c] = matrix[r * cols + c]! * f;
  }
  return out;
}

/**
 * What a clipped row may hold. `probabilities` (soft labels, the default): entries ≥ 0, so two
 * rows of norm ≤ C are at most √2·C apart (their dot product is ≥ 0). `signed` (logits): 2·C.
 */
export type RowDomain = 'probabilities' | 'signed';

/**
 * L2 sensitivity of one unit's clipped row under REPLACE-ONE adjacency, the neighbouring relation
 * every fedistill charge uses. Add/remove would be wrong here: which sites replied and how many
 * teachers each has are public (every release names them), and an example added to a site
 * reshuffles all of its teachers' shards, whereas replacing one keeps the others' shards as they were.
 */
export function replaceOneSensitivity(clip: number, domain: RowDomain = 'probabilities'): number {
  check(Number.isFinite(clip) && clip > 0, 'clip', `must be a positive finite number, got ${clip}`);
  return (domain === 'signed' ? 2 : Math.SQRT2) * clip;
}

/**
 * Sensitivity of a row of `cols` entries released on the grid (addGridGaussian): the
 * replace-one bound plus what rounding both neighbours to the grid may add, plus
 * `transportStep`·√cols when the rows were rounded (float32, step ≤ transportStep) before the noise.
 */
export function releaseSensitivity(clip: number, cols: number, domain: RowDomain = 'probabilities', transportStep = 0): number {
  return replaceOneSensitivity(clip, domain) + gridRoundingSlack(cols) + transportStep * Math.sqrt(cols);
}

/**
 * Sensitivity of a central soft-label release: sites with `teachersPerSite` teachers send float32
 * sums of probability rows (entries ≤ teachersPerSite·clip), the aggregator noises them on the grid.
 * The one formula the aggregator's charge, a site's own charge and the run's plan share.
 */
export function centralReleaseSensitivity(clip: number, cols: number, teachersPerSite: number): number {
  return releaseSensitivity(clip, cols, 'probabilities', float32Step(teachersPerSite * clip));
}

/**
 * The charge for releasing `rows` rows with Gaussian noise of standard deviation `noiseStd` on
 * entries whose replace-one sensitivity is `sensitivity`: `rows` Gaussian mechanisms with noise
 * multiplier σ/Δ (RDP α·Δ²/(2σ²) each).
 */
export function gaussianRowsCharge(noiseStd: number, sensitivity: number, rows: number): PrivacyEvent {
  return { type: 'gaussian', noise_multiplier: noiseStd / sensitivity, count: Math.max(1, rows) };
}

/**
 * Sets negative entries to 0. Applied before clipping a row that should be a soft label, it makes
 * the √2·C bound hold whatever the row held (a projection, so it never increases a distance).
 */
export function clampNegative(matrix: Float32Array | Float64Array): void {
  for (let i = 0; i < matrix.length; i++) if (matrix[i]! < 0) matrix[i] = 0;
}

export interface GaussianReleaseParams {
  /** L2 bound per sample row. */
  clip: number;
  /** σ / clip: the noise's standard deviation in units of the clipping norm. */
  noiseMultiplier: number;
  /** What the rows hold (default 'probabilities': negative entries are an error). */
  domain?: RowDomain;
}

export interface SoftLabelRelease {
  values: Float64Array;
  /**
   * The charge: one Gaussian per released row with noise multiplier σ / sensitivity, where the
   * sensitivity is one contributor's replace-one change, √2·clip for probabilities and 2·clip for
   * signed rows. Charge it to the privacy unit (site or teacher) before releasing values.
   */
  events: PrivacyEvent[];
  /** The noise's standard deviation and the sensitivity the charge used (for the audit log). */
  noiseStd: number;
  sensitivity: number;
}

function checkRelease(p: GaussianReleaseParams): void {
  check(Number.isFinite(p.noiseMultiplier) && p.noiseMultiplier > 0, 'noise_multiplier', `must be a positive finite number, got ${p.noiseMultiplier}`);
  check(p.domain === undefined || p.domain === 'probabilities' || p.domain === 'signed', 'domain', `must be 'probabilities' or 'signed', got ${String(p.domain)}`);
}

/** Rows declared as probabilities must be: a negative entry would break the √2·C bound. */
function checkDomain(matrix: ArrayLike<number>, cols: number, domain: RowDomain | undefined, field: string): void {
  if (domain === 'signed') return;
  for (let i = 0; i < matrix.length; i++) {
    check(!(matrix[i]! < 0), `${field}[${Math.floor(i / cols)}][${i % cols}]`, `is ${matrix[i]}: soft labels are probabilities (≥ 0); pass domain 'signed' for logits (charged at sensitivity 2·clip instead of √2·clip)`);
  }
}

/**
 * Central release: clip every contributor's rows, sum them, add noise of std z·clip on the release
 * grid (addGridGaussian) to each entry. Replacing one contributor moves each row of the sum by ≤
 * sensitivity (releaseSensitivity), so `rows` Gaussian mechanisms with noise multiplier
 * z·clip / sensitivity are charged (just under z/√2 for probabilities).
 */
export function gaussianSumRelease(replies: readonly ArrayLike<number>[], rows: number, cols: number, params: GaussianReleaseParams, rng: CryptoRng): SoftLabelRelease {
  checkRelease(params);
  const sum = new Float64Array(rows * cols);
  replies.forEach((reply, k) => {
    checkShape(reply, rows, cols, `replies[${k}]`);
    checkDomain(reply, cols, params.domain, `replies[${k}]`);
    const clipped = clipL2Rows(reply, rows, cols, params.clip);
    for (let i = 0; i < sum.length; i++) sum[i] += clipped[i]!;
  });
  const std = params.noiseMultiplier * params.clip;
  addGridGaussian(sum, std, rng);
  const sensitivity = releaseSensitivity(params.clip, cols, params.domain);
  return { values: sum, events: [gaussianRowsCharge(std, sensitivity, rows)], noiseStd: std, sensitivity };
}

/**
 * Local release (at the site, before anything leaves it): clip this reply's rows and add noise of
 * std z·clip on the release grid to each entry; charged as in gaussianSumRelease. The site records the same
 * events in its own ledger.
 */
export function localGaussianRelease(reply: ArrayLike<number>, rows: number, cols: number, params: GaussianReleaseParams, rng: CryptoRng): SoftLabelRelease {
  checkRelease(params);
  checkShape(reply, rows, cols, 'reply');
  checkDomain(reply, cols, params.domain, 'reply');
  const out = clipL2Rows(reply, rows, cols, params.clip);
  const std = params.noiseMultiplier * params.clip;
  addGridGaussian(out, std, rng);
  const sensitivity = releaseSensitivity(params.clip, cols, params.domain);
  return { values: out, events: [gaussianRowsCharge(std, sensitivity, rows)], noiseStd: std, sensitivity };
}
