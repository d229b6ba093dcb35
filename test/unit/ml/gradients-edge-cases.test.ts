// Gradient checks for shapes the layer-by-layer checks leave out: non-square and strided convs and pools, a batch of one, nested blocks, repeated token ids; and SGD weight decay in the folded step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { gradCheck } from './gradcheck.ts';
import type { ModelSpec } from '../../../shared/ml/model-spec.ts';
import type { LossConfig } from '../../../shared/ml/losses.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import { layoutOf } from '../../../shared/ml/layers.ts';
import { buildLossGraph, buildStepGraph, names } from '../../../shared/ml/train-graph.ts';

const CE: LossConfig = { kind: 'ce' };
const head = [{ type: 'flatten' }, { type: 'dense', units: 3 }] as const;
const img = (input: number[], layers: ModelSpec['layers']): ModelSpec => ({ input, classes: 3, layers: [...layers, ...head] });

const cases: [string, ModelSpec, 'float32' | 'float64', { batch?: number; intInputs?: number; samples?: number }?][] = [
  ['conv2d stride 2, padding 1, non-square input', img([2, 5, 7], [{ type: 'conv2d', filters: 2, kernel: 3, stride: 2, padding: 1 }]), 'float32'],
  ['conv2d stride 3, padding 2 (rows the conv never reads)', img([1, 8, 5], [{ type: 'conv2d', filters: 2, kernel: 3, stride: 3, padding: 2 }]), 'float32'],
  ['avgpool2d on an odd, non-square size (cropped)', img([2, 5, 7], [{ type: 'avgpool2d', size: 2 }]), 'float32'],
  ['avgpool2d with overlapping windows', img([1, 7, 6], [{ type: 'avgpool2d', size: 3, stride: 2 }]), 'float32'],
  ['maxpool2d on a non-square odd size (tiles)', img([2, 5, 8], [{ type: 'maxpool2d', size: 2 }]), 'float64'],
  ['maxpool2d on a non-square odd size (tiles, float32 graph)', img([2, 5, 8], [{ type: 'maxpool2d', size: 2 }]), 'float32'],
  ['maxpool2d with stride > size (gaps between windows)', img([1, 7, 7], [{ type: 'maxpool2d', size: 2, stride: 3 }]), 'float64'],
  ['batchnorm over channels, non-square', img([2, 3, 5], [{ type: 'batchnorm' }]), 'float64'],
  ['layernorm over the last axis of [C,H,W]', img([2, 3, 4], [{ type: 'layernorm' }]), 'float64'],
  ['a batch of one: dense, batchnorm (zero variance), relu', { input: [5], classes: 3, layers: [{ type: 'dense', units: 4 }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'dense', units: 3 }] }, 'float64', { batch: 1 }],
  ['a batch of one: spatial batchnorm', img([2, 3, 2], [{ type: 'batchnorm' }]), 'float64', { batch: 1 }],
  ['a batch of one: layernorm', { input: [5], classes: 3, layers: [{ type: 'dense', units: 4 }, { type: 'layernorm' }, { type: 'dense', units: 3 }] }, 'float64', { batch: 1 }],
  ['a batch of one: gelu', { input: [5], classes: 3, layers: [{ type: 'dense', units: 4 }, { type: 'gelu' }, { type: 'dense', units: 3 }] }, 'float32', { batch: 1 }],
  ['nested residual blocks', { input: [4], classes: 3, layers: [{ type: 'residual', layers: [{ type: 'dense', units: 4 }, { type: 'residual', layers: [{ type: 'dense', units: 4 }, { type: 'tanh' }] }] }, { type: 'dense', units: 3 }] }, 'float64'],
  ['residual with batchnorm and dropout inside', { input: [5], classes: 3, layers: [{ type: 'dense', units: 6 }, { type: 'residual', layers: [{ type: 'batchnorm' }, { type: 'dropout', rate: 0.5 }, { type: 'dense', units: 6 }] }, { type: 'dense', units: 3 }] }, 'float64', { batch: 4 }],
  ['residual conv block with batchnorm, then global average pool', { input: [2, 4, 4], classes: 3, layers: [{ type: 'residual', layers: [{ type: 'conv2d', filters: 2, kernel: 3, padding: 1 }, { type: 'batchnorm' }, { type: 'relu' }] }, { type: 'globalavgpool' }, { type: 'dense', units: 3 }] }, 'float32'],
  // Nine ids from a vocabulary of three: every row repeats, and its gradient sums over the repeats.
  ['embedding, a batch of one, repeated ids', { input: [9], classes: 3, layers: [{ type: 'embedding', vocab: 3, dim: 4 }, { type: 'dense', units: 3 }] }, 'float64', { batch: 1, intInputs: 3, samples: 12 }],
];
for (const [name, spec, ft, o] of cases) {
  test(`gradient of ${name} matches finite differences (${ft})`, async () => {
    const r = await gradCheck(spec, CE, ft, { samples: 5, ...o });
    assert.ok(r.checked > 0);
    assert.ok(r.worst <= 1, r.details.join('\n'));
  });
}

test('distillation losses with a batch of one and a hard/soft mix match finite differences (float64)', async () => {
  for (const loss of [{ kind: 'distill', soft: 'kl', targets: 'logits', hardWeight: 0.6 }, { kind: 'distill', soft: 'mse', targets: 'logits', hardWeight: 0.5 }] as LossConfig[]) {
    const r = await gradCheck({ input: [5], classes: 3, layers: [{ type: 'dense', units: 3 }] }, loss, 'float64', { batch: 1 });
    assert.ok(r.worst <= 1, r.details.join('\n'));
  }
});

test('SGD with momentum and weight decay in the step graph (velocity folded into the gradient Gemm) is v ← μv + g + λp, p ← p − ηv (float64)', async () => {
  const spec: ModelSpec = { input: [6], classes: 4, layers: [{ type: 'dense', units: 5 }, { type: 'relu' }, { type: 'dense', units: 4 }] };
  const layout = layoutOf(spec);
  const rng = new SeededRng(4);
  const f64 = (v: ArrayLike<number>, dims: number[]) => new ort.Tensor('float64', Float64Array.from(v), dims);
  const rand = (k: number) => Array.from({ length: k }, () => rng.normal() * 0.7);
  const n = 3;
  const feeds: Record<string, ort.Tensor> = { x: f64(rand(n * 6), [n, 6]), y_hard: f64([1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0], [n, 4]) };
  const params = layout.params.map((p) => rand(p.shape.reduce((a, b) => a * b, 1)));
  const velocity = layout.params.map((p) => rand(p.shape.reduce((a, b) => a * b, 1)));
  layout.params.forEach((p, i) => { feeds[names.param(p.name)] = f64(params[i]!, p.shape); });
  const opt: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 };
  const grads = await (await ort.InferenceSession.create(buildLossGraph(layout, CE, 'float64', true).toModel(), opt)).run(feeds);
  const mu = 0.875, wd = 0.0625, lr = 0.05; // exact in float32 (Gemm's beta is a float32 attribute)
  const step = buildStepGraph({ layout, loss: CE, optimizer: { kind: 'sgd', momentum: mu, weightDecay: wd }, floatType: 'float64', oneHotTargets: true });
  const stepFeeds: Record<string, ort.Tensor> = { ...feeds, lr: f64([lr], []), step: f64([1], []), metrics: f64([0, 0], [2]) };
  layout.params.forEach((p, i) => { stepFeeds[names.state(p.name, 'velocity')] = f64(velocity[i]!, p.shape); });
  const out = await (await ort.InferenceSession.create(step.toModel(), opt)).run(stepFeeds);
  layout.params.forEach((p, i) => {
    const g = grads[names.grad(p.name)]!.data as Float64Array;
    const v = out[names.next(names.state(p.name, 'velocity'))]!.data as Float64Array;
    const next = out[names.next(names.param(p.name))]!.data as Float64Array;
    for (let k = 0; k < g.length; k++) {
      const want = mu * velocity[i]![k]! + g[k]! + wd * params[i]![k]!; // biases decay too, as in PyTorch's default
      assert.ok(Math.abs(v[k]! - want) < 1e-12, `${p.name} velocity[${k}]: ${v[k]} vs ${want}`);
      assert.ok(Math.abs(next[k]! - (params[i]![k]! - lr * want)) < 1e-12, `${p.name}[${k}]`);
    }
  });
});
