// Test helper: compares the engine's gradient graph with central finite differences of its loss graph.
import * as ort from 'onnxruntime-node';
import { SeededRng } from '../../../shared/util/prng.ts';
import { layoutOf } from '../../../shared/ml/layers.ts';
import type { ModelSpec } from '../../../shared/ml/model-spec.ts';
import type { LossConfig } from '../../../shared/ml/losses.ts';
import { buildLossGraph, names, type FloatType } from '../../../shared/ml/train-graph.ts';

export interface GradCheckResult { worst: number; checked: number; details: string[] }

/**
 * Runs the loss+gradient graph once and the loss graph at x ± h for sampled coordinates of every
 * parameter and of the input. Returns the worst error normalised as |a − fd| / (atol + rtol·|fd|).
 * float64 graphs use h = 1e-6 (rtol 1e-5); float32 ones (ops without double kernels in ORT CPU:
 * Conv, pooling-by-average, Erf) use h = 1e-2, where truncation O(h²) and rounding O(ε/h) errors
 * are both ≈ 1e-4 relative, so rtol 2e-2 with atol 2e-3 still catches any wrong rule (those are off by O(1)).
 */
export async function gradCheck(spec: ModelSpec, loss: LossConfig, floatType: FloatType, opts: { batch?: number; samples?: number; seed?: number; intInputs?: number; forGpu?: boolean } = {}): Promise<GradCheckResult> {
  const layout = layoutOf(spec);
  const rng = new SeededRng(opts.seed ?? 7);
  const n = opts.batch ?? 3;
  const C = spec.classes;
  const Arr = floatType === 'float64' ? Float64Array : Float32Array;
  const t = (data: ArrayLike<number>, dims: number[]) => new ort.Tensor(floatType, Arr.from(data), dims);
  const rand = (k: number, scale = 1) => Array.from({ length: k }, () => rng.normal() * scale);
  const xSize = spec.input.reduce((a, b) => a * b, 1);
  const x = opts.intInputs ? Array.from({ length: n * xSize }, () => rng.int(opts.intInputs!)) : rand(n * xSize);
  const feeds: Record<string, ort.Tensor> = { x: t(x, [n, ...spec.input]) };
  const params = layout.params.map((p) => rand(p.shape.reduce((a, b) => a * b, 1), 0.5));
  layout.params.forEach((p, i) => { feeds[names.param(p.name)] = t(params[i]!, p.shape); });
  layout.buffers.forEach((b) => { feeds[names.buffer(b.name)] = t(new Array(b.shape.reduce((a, c) => a * c, 1)).fill(b.initValue), b.shape); });
  layout.dropouts.forEach((d) => {
    const k = n * d.shape.reduce((a, b) => a * b, 1);
    feeds[names.mask(d.name)] = t(Array.from({ length: k }, () => (rng.next() < d.rate ? 0 : 1 / (1 - d.rate))), [n, ...d.shape]);
  });
  const onehot = new Array(n * C).fill(0);
  for (let i = 0; i < n; i++) onehot[i * C + rng.int(C)] = 1;
  const softmax = (z: number[]) => { const out: number[] = []; for (let i = 0; i < n; i++) { const r = z.slice(i * C, i * C + C); const m = Math.max(...r); const e = r.map((v) => Math.exp(v - m)); const s = e.reduce((a, b) => a + b); out.push(...e.map((v) => v / s)); } return out; };
  const lossFeeds: Record<string, ort.Tensor> = {};
  if (loss.kind === 'ce' || loss.hardWeight > 0) lossFeeds.y_hard = t(onehot, [n, C]);
  if (loss.kind === 'distill' && loss.hardWeight < 1) {
    const z = rand(n * C, 2);
    lossFeeds.y_soft = t(loss.soft === 'kl' && loss.targets === 'probs' ? softmax(z) : z, [n, C]);
    if (loss.soft === 'kl') lossFeeds.temperature = t(Array.from({ length: n }, () => 0.5 + 3 * rng.next()), [n, 1]);
  }
  const opt: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 };
  const gradSession = await ort.InferenceSession.create(buildLossGraph(layout, loss, floatType, true, true, opts.forGpu).toModel(), opt);
  const lossSession = await ort.InferenceSession.create(buildLossGraph(layout, loss, floatType, false).toModel(), opt);
  const all = { ...feeds, ...lossFeeds };
  const analytic = await gradSession.run(all);
  const h = floatType === 'float64' ? 1e-6 : 1e-2;
  const [atol, rtol] = floatType === 'float64' ? [1e-7, 1e-5] : [2e-3, 2e-2];
  const result: GradCheckResult = { worst: 0, checked: 0, details: [] };
  const targets: { feed: string; grad: string; values: number[]; dims: number[] }[] = [
    ...layout.params.map((p, i) => ({ feed: names.param(p.name), grad: names.grad(p.name), values: params[i]!, dims: p.shape })),
  ];
  if (!opts.intInputs) targets.push({ feed: 'x', grad: names.grad('x'), values: x, dims: [n, ...spec.input] });
  const lossAt = async (feed: string, vals: number[], dims: number[]) => Number((await lossSession.run({ ...all, [feed]: t(vals, dims) })).loss!.data[0]);
  for (const tg of targets) {
    const a = analytic[tg.grad]!.data as Float64Array;
    const k = Math.min(opts.samples ?? 6, tg.values.length);
    for (let s = 0; s < k; s++) {
      const i = rng.int(tg.values.length);
      const plus = tg.values.slice(); plus[i]! += h;
      const minus = tg.values.slice(); minus[i]! -= h;
      const fd = ((await lossAt(tg.feed, plus, tg.dims)) - (await lossAt(tg.feed, minus, tg.dims))) / (2 * h);
      const err = Math.abs(a[i]! - fd) / (atol + rtol * Math.abs(fd));
      result.checked++;
      if (err > result.worst) result.worst = err;
      if (err > 1) result.details.push(`${tg.grad}[${i}]: graph ${a[i]} vs finite difference ${fd}`);
    }
  }
  return result;
}
