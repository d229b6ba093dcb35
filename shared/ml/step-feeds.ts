// Host-built feeds of a training step: a batch's rows, dropout masks drawn per (seed, step), and K batches stacked for the Loop graph or the unrolled one.
import { ort } from './runtime.ts';
import type { ModelLayout } from './layers.ts';
import { allRows, names } from './train-graph.ts';
import { outer } from './train-loop-graph.ts';
import { SeededRng } from '../util/prng.ts';
import { gatherRows } from './train-data.ts';

/** A per-sample column a step graph reads (x, or a loss target) and the values per row. */
export interface BatchColumn { name: string; row: number[]; width: number }

/** Builds the feeds of the batch whose sample ids are `idx`. */
export type BatchFeeds = (idx: Uint32Array) => Record<string, ort.Tensor>;

/**
 * Feeds copied out of the per-sample columns (the CPU, or data too large to keep on a GPU). One
 * step per run frees a batch's arrays when the run returns, so `reuse` recycles them; K-step runs
 * hold K batches at once and need fresh ones.
 */
export function hostBatchFeeds(cols: readonly BatchColumn[], columns: Record<string, Float32Array>, reuse: boolean): BatchFeeds {
  const scratch = new Map<string, Float32Array>();
  const buf = (name: string, size: number): Float32Array => {
    if (!reuse) return new Float32Array(size);
    let a = scratch.get(name);
    if (!a || a.length !== size) scratch.set(name, (a = new Float32Array(size)));
    return a;
  };
  return (idx) => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const c of cols) {
      feeds[c.name] = new ort.Tensor('float32', gatherRows(columns[c.name]!, c.width, idx, buf(c.name, idx.length * c.width)), [idx.length, ...c.row]);
    }
    return feeds;
  };
}

/** Feeds for columns uploaded to the GPU once per fit: the whole columns and the row ids the step gathers there. */
export function residentBatchFeeds(residentColumns: Record<string, ort.Tensor>): BatchFeeds {
  return (idx) => ({ ...residentColumns, rows: new ort.Tensor('int64', BigInt64Array.from(idx, (i) => BigInt(i)), [idx.length]) });
}

/**
 * K host batches (full, B rows each) as the unrolled step graph's inputs when the data is not
 * resident on the GPU: the batches stacked as its whole-dataset columns (`all:*`, K·B rows,
 * uploaded with the run), and step i's row ids i·B … (i+1)·B − 1. The steps are the same as with
 * resident columns; only what is uploaded differs.
 */
export function stackedRowFeeds(batches: readonly Record<string, ort.Tensor>[]): Record<string, ort.Tensor>[] {
  const k = batches.length;
  const b = batches[0]!.x!.dims[0]!;
  const all: Record<string, ort.Tensor> = {};
  for (const [name, first] of Object.entries(batches[0]!)) {
    const src = first.data as Float32Array | Float64Array;
    const data = new (src.constructor as Float32ArrayConstructor)(src.length * k);
    batches.forEach((batch, i) => data.set(batch[name]!.data as Float32Array, i * src.length));
    all[allRows(name)] = new ort.Tensor(first.type as 'float32', data, [k * b, ...first.dims.slice(1)]);
  }
  return batches.map((_, i) => ({ ...all, rows: new ort.Tensor('int64', BigInt64Array.from({ length: b }, (_, j) => BigInt(i * b + j)), [b]) }));
}

export interface DropoutMask { name: string; mask: Float32Array; dims: number[] }

/**
 * The dropout masks of step `step` (0-based) for n rows, from a generator seeded by (seed, step):
 * a run is reproducible, and a K-step Loop run draws its K steps' masks exactly as K single steps would.
 */
export function dropoutMasks(layout: ModelLayout, seed: number, n: number, step: number): DropoutMask[] {
  if (layout.dropouts.length === 0) return [];
  const rng = new SeededRng(`${seed}:dropout:${step}`);
  return layout.dropouts.map((d) => {
    const mask = new Float32Array(n * d.shape.reduce((a, b) => a * b, 1));
    const keep = 1 / (1 - d.rate);
    for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < d.rate ? 0 : keep;
    return { name: d.name, mask, dims: [n, ...d.shape] };
  });
}

/**
 * The per-step inputs of K batches stacked along a leading K axis, as the Loop graph reads them:
 * outer/xs, the targets the graph declares (`inputs`), and one dropout mask per step (steps
 * firstStep … firstStep + K − 1).
 */
export function stackedLoopFeeds(layout: ModelLayout, batches: Record<string, ort.Tensor>[], inputs: ReadonlySet<string>, seed: number, firstStep: number): Record<string, ort.Tensor> {
  const k = batches.length;
  const stack = (name: string): ort.Tensor => {
    const first = batches[0]![name]!;
    const data = new Float32Array(first.size * k);
    batches.forEach((b, i) => data.set(b[name]!.data as Float32Array, i * first.size));
    return new ort.Tensor('float32', data, [k, ...first.dims]);
  };
  const feeds: Record<string, ort.Tensor> = { [outer('xs')]: stack('x') };
  for (const [inName, batchName] of [['ys_hard', 'y_hard'], ['ys_soft', 'y_soft'], ['temperatures', 'temperature']] as const) {
    if (inputs.has(outer(inName))) feeds[outer(inName)] = stack(batchName);
  }
  const n = batches[0]!.x!.dims[0]!;
  const masks = Array.from({ length: k }, (_, j) => dropoutMasks(layout, seed, n, firstStep + j));
  layout.dropouts.forEach((d, i) => {
    const size = masks[0]![i]!.mask.length;
    const stacked = new Float32Array(size * k);
    masks.forEach((m, j) => stacked.set(m[i]!.mask, j * size));
    feeds[outer(names.mask(d.name))] = new ort.Tensor('float32', stacked, [k, ...masks[0]![i]!.dims]);
  });
  return feeds;
}
