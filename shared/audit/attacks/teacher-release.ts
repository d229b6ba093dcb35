// What the teachers release on the public set, by policy: plain averages, or swing temperature + clipping + Gaussian noise + support gate.
import { check } from '../../util/errors.ts';
import type { PrivacyEvent } from '../../privacy/events.ts';
import type { CryptoRng } from '../../privacy/rng.ts';
import { gaussianSumRelease } from '../../privacy/soft-labels.ts';
import { type SupportGatePolicy, checkSupportGate, supportGate } from '../../privacy/support-gate.ts';
import { type SwingPolicy, applyTemperatures, swingTemperatures } from '../../privacy/swing-temperature.ts';

/**
 * A release policy. `{}` is plain distillation: the teachers' probabilities averaged, nothing
 * clipped, noised or re-tempered. With `noiseMultiplier`, rows are clipped to `clip` and the sum
 * gets N(0, (z·clip)²) per entry (central Gaussian, one teacher = one site = the privacy unit).
 * With `swing`, each teacher's rows are first re-tempered per sample (risky = confident rows
 * get a high temperature), as in swing distillation. With `supportGate`, the noised sum is pooled
 * over public neighbours and rows whose top class too few teachers back are withheld (risk =
 * low support, temperature ∞): post-processing of the noised sum, so ε is unchanged.
 */
export interface ReleasePolicy {
  clip?: number;
  noiseMultiplier?: number;
  swing?: SwingPolicy;
  supportGate?: SupportGatePolicy;
  /** DS-FL sharpening of the (noised) average: softmax(mean / T). Default: none. */
  entropyReductionTemperature?: number;
}

export interface TeacherRelease {
  /** rows × cols soft targets for the student, each row a distribution. */
  targets: Float32Array;
  /** The privacy charge of the release (empty for a policy without noise). */
  events: PrivacyEvent[];
  /** With a support gate: 1 for rows released, 0 for rows withheld (students train on released rows only). */
  released?: Uint8Array;
  /** With a support gate: per row, the pooled noised support of its top class, in teachers. */
  support?: Float64Array;
}

/** Checks a policy, naming the field that is wrong. */
export function checkReleasePolicy(p: ReleasePolicy, field: string): void {
  if (p.noiseMultiplier !== undefined) {
    check(p.noiseMultiplier > 0 && Number.isFinite(p.noiseMultiplier), `${field}.noise_multiplier`, `must be a positive number, got ${p.noiseMultiplier}`);
    check(p.clip !== undefined && p.clip > 0 && Number.isFinite(p.clip), `${field}.clip`, 'a noised release needs a positive clip (the sensitivity the noise is scaled to)');
  }
  if (p.supportGate !== undefined) {
    check(p.noiseMultiplier !== undefined, `${field}.support_gate`, 'reads support from the noised sum only: set noise_multiplier (a gate on exact sums would be an unaccounted data-dependent choice)');
    checkSupportGate(p.supportGate, `${field}.support_gate`);
  }
  if (p.entropyReductionTemperature !== undefined) {
    check(p.entropyReductionTemperature > 0, `${field}.entropy_reduction_temperature`, `must be > 0, got ${p.entropyReductionTemperature}`);
  }
}

/**
 * Turns each teacher's probabilities on the public rows into the student's targets under `policy`.
 * `rng` draws the privacy noise (node:crypto unless a test injects a source). `publicFeatures`
 * (the public rows' features, row-major) are needed by a support gate to find neighbours.
 */
export function releaseTeacherLabels(teacherProbs: readonly Float32Array[], rows: number, cols: number, policy: ReleasePolicy, rng: CryptoRng, publicFeatures?: ArrayLike<number>): TeacherRelease {
  checkReleasePolicy(policy, 'release');
  check(teacherProbs.length > 0, 'teachers', 'need at least one teacher');
  const replies = teacherProbs.map((p, k) => {
    check(p.length === rows * cols, `teacherProbs[${k}]`, `has ${p.length} entries; expected ${rows}×${cols}`);
    if (!policy.swing) return p;
    return applyTemperatures(p, rows, cols, swingTemperatures(p, rows, cols, policy.swing));
  });
  let sum: Float64Array;
  let events: PrivacyEvent[] = [];
  if (policy.noiseMultiplier !== undefined) {
    const r = gaussianSumRelease(replies, rows, cols, { clip: policy.clip!, noiseMultiplier: policy.noiseMultiplier }, rng);
    sum = r.values;
    events = r.events;
    if (policy.supportGate) {
      check(publicFeatures !== undefined, 'publicFeatures', 'a support gate needs the public rows\' features to pool over neighbours');
      const gate = supportGate(sum, rows, cols, teacherProbs.length, policy.clip!, publicFeatures, policy.supportGate);
      const targets = toDistributions(gate.pooled, teacherProbs.length, rows, cols, policy.entropyReductionTemperature);
      // Withheld rows say nothing, even to a consumer that ignores `released`.
      for (let r = 0; r < rows; r++) if (!gate.released[r]) targets.fill(1 / cols, r * cols, (r + 1) * cols);
      return { targets, events, released: gate.released, support: gate.support };
    }
  } else {
    sum = new Float64Array(rows * cols);
    for (const p of replies) for (let i = 0; i < sum.length; i++) sum[i] += p[i]!;
  }
  return { targets: toDistributions(sum, teacherProbs.length, rows, cols, policy.entropyReductionTemperature), events };
}

/**
 * Mean rows as distributions: softmax(mean / T) with DS-FL sharpening, else the mean with
 * negative (noise-made) entries cut to 0 and renormalised (uniform if nothing is left).
 */
function toDistributions(sum: Float64Array, teachers: number, rows: number, cols: number, t?: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = sum.subarray(r * cols, (r + 1) * cols);
    if (t !== undefined) {
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v / teachers / t);
      let z = 0;
      for (let c = 0; c < cols; c++) z += out[r * cols + c] = Math.exp(row[c]! / teachers / t - max);
      for (let c = 0; c < cols; c++) out[r * cols + c]! /= z;
      continue;
    }
    let z = 0;
    for (let c = 0; c < cols; c++) z += out[r * cols + c] = Math.max(0, row[c]!);
    for (let c = 0; c < cols; c++) out[r * cols + c] = z > 0 ? out[r * cols + c]! / z : 1 / cols;
  }
  return out;
}
