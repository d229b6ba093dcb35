// An in-memory image dataset slice over shared 8-bit pixels: slicing is free, features and hash are computed on first use.
import { createHash } from 'node:crypto';
import { check } from '../util/errors.ts';
import type { Dataset } from './types.ts';

/** What an ImageDataset is built from; pixels and labels may be views into a larger buffer. */
export interface ImageDatasetInit {
  spec: string;
  name: string;
  split: string;
  shape: readonly number[];
  numClasses: number;
  pixels: Uint8Array;
  labels: Uint8Array;
  subsetOf?: { spec: string; indices: Uint32Array };
  /** Supplies the scaled features (e.g. a view into a per-process cache); default: scale `pixels`. */
  features?: () => Float32Array;
}

/** Scales 8-bit pixels to [0, 1] as Float32 (x / 255). */
export function scalePixels(px: Uint8Array): Float32Array {
  const out = new Float32Array(px.length);
  for (let i = 0; i < px.length; i++) out[i] = px[i]! / 255;
  return out;
}

/**
 * A Dataset backed by 8-bit pixels. The Float32 features (4× the memory) and the SHA-256
 * are computed lazily and kept, so loading a split to partition it costs no scaling and
 * no hashing. Both are enumerable own accessors, so `{ ...ds }` still carries them.
 */
export class ImageDataset implements Dataset {
  readonly spec: string;
  readonly name: string;
  readonly split: string;
  readonly length: number;
  readonly shape: readonly number[];
  readonly numClasses: number;
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
  readonly subsetOf?: { readonly spec: string; readonly indices: Uint32Array };
  /** Pixels scaled to [0, 1] (x / 255), computed on first read. */
  declare readonly features: Float32Array;
  /** SHA-256 hex over the pixel bytes then the label bytes, computed on first read. */
  declare readonly hash: string;

  constructor(init: ImageDatasetInit) {
    const rowBytes = init.shape.reduce((a, b) => a * b, 1);
    check(init.pixels.length === init.labels.length * rowBytes, 'pixels', `expected ${init.labels.length} × ${rowBytes} bytes, got ${init.pixels.length}`);
    this.spec = init.spec;
    this.name = init.name;
    this.split = init.split;
    this.length = init.labels.length;
    this.shape = Object.freeze([...init.shape]);
    this.numClasses = init.numClasses;
    this.pixels = init.pixels;
    this.labels = init.labels;
    if (init.subsetOf) this.subsetOf = init.subsetOf;
    const makeFeatures = init.features ?? (() => scalePixels(this.pixels));
    let features: Float32Array | undefined;
    let hash: string | undefined;
    Object.defineProperty(this, 'features', { enumerable: true, get: () => (features ??= makeFeatures()) });
    Object.defineProperty(this, 'hash', {
      enumerable: true,
      get: () => (hash ??= createHash('sha256').update(this.pixels).update(this.labels).digest('hex')),
    });
  }

  /** Per-class sample counts. */
  labelCounts(): number[] {
    return countLabels(this.labels, this.numClasses);
  }
}

/** Per-class counts of `labels` over 0..numClasses-1. */
export function countLabels(labels: ArrayLike<number>, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  return counts;
}

/**
 * The samples of `ds` at `indices` (in that order; repeats allowed), as a new Dataset that
 * records its parent spec and indices. Partitions and public sets are built with it.
 */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const n = indices.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i]!;
    check(Number.isInteger(j) && j >= 0 && j < ds.length, 'indices', `index ${j} at position ${i} is outside 0..${ds.length - 1} of ${ds.spec}`);
    idx[i] = j;
  }
  const row = ds.shape.reduce((a, b) => a * b, 1);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = ds.labels[idx[i]!]!;
  const spec = `${ds.spec}#subset(${n})`;
  if (ds.pixels) {
    const pixels = new Uint8Array(n * row);
    for (let i = 0; i < n; i++) pixels.set(ds.pixels.subarray(idx[i]! * row, (idx[i]! + 1) * row), i * row);
    return new ImageDataset({
      spec, name: ds.name, split: ds.split, shape: ds.shape, numClasses: ds.numClasses,
      pixels, labels, subsetOf: { spec: ds.spec, indices: idx },
    });
  }
  const src = ds.features;
  const features = new Float32Array(n * row);
  for (let i = 0; i < n; i++) features.set(src.subarray(idx[i]! * row, (idx[i]! + 1) * row), i * row);
  const hash = createHash('sha256')
    .update(new Uint8Array(features.buffer, features.byteOffset, features.byteLength))
    .update(labels)
    .digest('hex');
  return {
    spec, name: ds.name, split: ds.split, length: n, shape: ds.shape, numClasses: ds.numClasses,
    features, labels, hash, subsetOf: { spec: ds.spec, indices: idx },
  };
}
