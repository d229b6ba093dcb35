// Training inputs: normalises a Dataset or raw arrays, checks their shapes, and cuts seeded batches.
import type { Dataset } from '../data/types.ts';
import { FedistillError, check } from '../util/errors.ts';
import type { LossConfig } from './losses.ts';
import type { DistillData } from './trainer-types.ts';
import { SeededRng } from '../util/prng.ts';
import { didYouMean } from '../util/suggest.ts';

/** Raw labelled samples: features n × prod(input) row-major, labels n class ids. */
export interface LabelledArrays { features: Float32Array; labels: ArrayLike<number> }
export type TrainData = Dataset | LabelledArrays;

export interface Samples { n: number; features: Float32Array; labels?: ArrayLike<number> }

/**
 * Checks that features fit the model's input and labels its classes; throws E_SHAPE_MISMATCH otherwise.
 * `vocab`: the features are token ids (a model that starts with an embedding), checked by `checkTokenIds`.
 */
export function toSamples(d: { features: Float32Array; labels?: ArrayLike<number> }, input: readonly number[], classes: number, vocab?: number): Samples {
  const per = input.reduce((a, b) => a * b, 1);
  if (!(d.features instanceof Float32Array)) throw new FedistillError('E_SHAPE_MISMATCH', 'features must be a Float32Array');
  if (d.features.length % per !== 0) {
    throw new FedistillError('E_SHAPE_MISMATCH', `features hold ${d.features.length} values, not a multiple of the model input [${input}] (${per} per sample)`);
  }
  const n = d.features.length / per;
  if (d.labels) {
    if (d.labels.length !== n) throw new FedistillError('E_SHAPE_MISMATCH', `${n} samples but ${d.labels.length} labels`);
    for (let i = 0; i < n; i++) {
      const y = d.labels[i]!;
      if (!Number.isInteger(y) || y < 0 || y >= classes) throw new FedistillError('E_SHAPE_MISMATCH', `label ${y} at sample ${i} is outside 0..${classes - 1}`);
    }
  }
  if (vocab !== undefined) checkTokenIds(d.features, vocab);
  return { n, features: d.features, labels: d.labels };
}

/**
 * Token ids must be whole numbers in [0, vocab): the graph casts them to int64 and gathers table
 * rows, where a fraction would be truncated, a negative id would silently read a row from the end
 * and one past the table would fail inside onnxruntime. Throws E_SHAPE_MISMATCH naming the first bad one.
 */
export function checkTokenIds(features: Float32Array, vocab: number): void {
  for (let i = 0; i < features.length; i++) {
    const id = features[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new FedistillError('E_SHAPE_MISMATCH', `token id ${id} at position ${i} is not a whole number in 0..${vocab - 1} (the embedding's vocabulary)`);
    }
  }
}

/** The sample order of an epoch: a permutation seeded by (seed, epoch), so a resumed run sees the same order. */
export function epochOrder(n: number, seed: number | string, epoch: number, shuffle: boolean): Uint32Array {
  if (!shuffle) return Uint32Array.from({ length: n }, (_, i) => i);
  return new SeededRng(`${seed}:epoch:${epoch}`).permutation(n);
}

/** Copies rows `idx` of a row-major n × width matrix into `out`. */
export function gatherRows(src: Float32Array, width: number, idx: ArrayLike<number>, out: Float32Array): Float32Array {
  for (let i = 0; i < idx.length; i++) out.set(src.subarray(idx[i]! * width, (idx[i]! + 1) * width), i * width);
  return out;
}

/** One-hot rows for all labels (n × classes). */
export function oneHot(labels: ArrayLike<number>, classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) out[i * classes + labels[i]!] = 1;
  return out;
}

/** Temperatures outside [1e-6, 1e6] are refused: far beyond any distillation's, and where the float32 step would turn weights into NaN. */
export const MIN_TEMPERATURE = 1e-6;
export const MAX_TEMPERATURE = 1e6;

const DISTILL_KEYS: readonly string[] = ['features', 'softTargets', 'targetKind', 'temperatures', 'temperature', 'alpha', 'hardLabels', 'softLoss'];

/**
 * The loss and per-sample columns of a distillation fit, checked: no unknown input, a known target kind, soft targets n × classes and
 * finite (a NaN target would turn every weight it reaches into NaN), per-sample temperatures
 * in [MIN_TEMPERATURE, MAX_TEMPERATURE], hard labels where α > 0. MSE/MAE compare logits with logits, so they refuse targets
 * declared as probabilities.
 */
export function distillColumns(d: DistillData, input: readonly number[], classes: number, vocab?: number): { n: number; loss: LossConfig; columns: Record<string, Float32Array> } {
  // a misspelt input (temperture) would be dropped and train at its default: refused instead
  for (const k of Object.keys(d)) check(DISTILL_KEYS.includes(k), k, `is not a distillation input${didYouMean(k, DISTILL_KEYS)}; the inputs are ${DISTILL_KEYS.join(', ')}`);
  const s = toSamples({ features: d.features, labels: d.hardLabels }, input, classes, vocab);
  const alpha = d.alpha ?? 0;
  if (d.softTargets.length !== s.n * classes) throw new FedistillError('E_SHAPE_MISMATCH', `softTargets must hold ${s.n}×${classes} values, got ${d.softTargets.length}`);
  if (alpha > 0 && !d.hardLabels) throw new FedistillError('E_SHAPE_MISMATCH', 'alpha > 0 needs hardLabels');
  const soft = d.softLoss ?? 'kl';
  if (soft !== 'kl' && d.targetKind === 'probs') {
    throw new FedistillError('E_INVALID_PARAMETER', `softLoss '${soft}' compares the student's logits with teacher logits; pass logits with targetKind 'logits', or use softLoss 'kl' for probabilities`);
  }
  if (alpha < 1) {
    // the float32 value the graph gets: a double of 1e300 is finite, and infinite in float32
    const bad = d.softTargets.findIndex((v) => !Number.isFinite(Math.fround(v)));
    if (bad >= 0) throw new FedistillError('E_SHAPE_MISMATCH', `soft target ${d.softTargets[bad]} at sample ${Math.floor(bad / classes)}, class ${bad % classes} is not a finite number`);
  }
  const T = d.temperatures ?? new Float32Array(s.n).fill(d.temperature ?? 1);
  if (T.length !== s.n) throw new FedistillError('E_SHAPE_MISMATCH', `temperatures must hold ${s.n} values, got ${T.length}`);
  // a range the float32 step survives (T² overflows above ~1.8e19, z/T below ~1e-38); 1e-6 as a float32 passes
  for (const t of T) check(t >= Math.fround(MIN_TEMPERATURE) && t <= MAX_TEMPERATURE, 'temperature', `must be in [1e-6, 1e6], got ${t}`);
  const loss: LossConfig = { kind: 'distill', soft, targets: d.targetKind ?? (soft === 'kl' ? 'probs' : 'logits'), hardWeight: alpha };
  const columns: Record<string, Float32Array> = { x: s.features };
  if (alpha < 1) {
    columns.y_soft = d.softTargets;
    if (soft === 'kl') columns.temperature = T;
  }
  if (alpha > 0) columns.y_hard = oneHot(s.labels!, classes);
  return { n: s.n, loss, columns };
}
