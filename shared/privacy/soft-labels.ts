// Soft-label release: per-sample L2 clipping, then Gaussian noise on the sum (central) or on each reply (local).
import { check } from '../util/errors.ts';
import type { PrivacyEvent } from './events.ts';
import type { CryptoRng } from './rng.ts';

function checkShape(data: ArrayLike<number>, rows: number, cols: number, field: string): void {
  check(Number.isSafeInteger(rows) && rows >= 0, 'rows', `must be a non-negative integer, got ${rows}`);
  check(Number.isSafeInteger(cols) && cols > 0, 'cols', `must be a positive integer, got ${cols}`);
  check(data.length === rows * cols, field, `has ${data.length} entries; expected rows × cols = ${rows * cols}`);
}

/**
 * Scales each row (one sample's soft label) to L2 norm ≤ clip, so one sample changes a sum by
 * at most `clip`. Returns a new array; NaN/∞ entries are an error (they would break the bound).
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

export interface GaussianReleaseParams {
  /** L2 bound per sample row. */
  clip: number;
  /** σ / clip. */
  noiseMultiplier: number;
}

export interface SoftLabelRelease {
  values: Float64Array;
  /**
   * The charge: one Gaussian per released row, noise multiplier z (sensitivity clip per row for
   * one contributor). Charge it to the privacy unit (site or teacher) before releasing values.
   */
  events: PrivacyEvent[];
}

function checkRelease(p: GaussianReleaseParams): void {
  check(Number.isFinite(p.noiseMultiplier) && p.noiseMultiplier > 0, 'noise_multiplier', `must be a positive finite number, got ${p.noiseMultiplier}`);
}

/**
 * Central release: clip every contributor's rows, sum them, add N(0, (z·clip)²) to each entry.
 * One contributor changes each row's sum by ≤ clip, so `rows` Gaussian mechanisms are charged.
 */
export function gaussianSumRelease(replies: readonly ArrayLike<number>[], rows: number, cols: number, params: GaussianReleaseParams, rng: CryptoRng): SoftLabelRelease {
  checkRelease(params);
  const sum = new Float64Array(rows * cols);
  replies.forEach((reply, k) => {
    checkShape(reply, rows, cols, `replies[${k}]`);
    const clipped = clipL2Rows(reply, rows, cols, params.clip);
    for (let i = 0; i < sum.length; i++) sum[i] += clipped[i]!;
  });
  const std = params.noiseMultiplier * params.clip;
  for (let i = 0; i < sum.length; i++) sum[i] += rng.gaussian(std);
  return { values: sum, events: [{ type: 'gaussian', noise_multiplier: params.noiseMultiplier, count: Math.max(1, rows) }] };
}

/**
 * Local release (at the site, before anything leaves it): clip this reply's rows and add
 * N(0, (z·clip)²) to each entry. The site records the same events in its own ledger.
 */
export function localGaussianRelease(reply: ArrayLike<number>, rows: number, cols: number, params: GaussianReleaseParams, rng: CryptoRng): SoftLabelRelease {
  checkRelease(params);
  const out = clipL2Rows(reply, rows, cols, params.clip);
  const std = params.noiseMultiplier * params.clip;
  for (let i = 0; i < out.length; i++) out[i] += rng.gaussian(std);
  return { values: out, events: [{ type: 'gaussian', noise_multiplier: params.noiseMultiplier, count: Math.max(1, rows) }] };
}
