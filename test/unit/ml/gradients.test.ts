// Gradient checks: every layer and loss against central finite differences (float64 where ORT has kernels).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck } from './gradcheck.ts';
import type { LayerSpec, ModelSpec } from '../../../shared/ml/model-spec.ts';
import type { LossConfig } from '../../../shared/ml/losses.ts';
import { VJP_RULES } from '../../../shared/ml/vjp-rules.ts';
import * as op from '../../../shared/ml/ops.ts';
import * as ort from 'onnxruntime-node';
import { SeededRng } from '../../../shared/util/prng.ts';
import { layoutOf } from '../../../shared/ml/layers.ts';
import { buildLossGraph, names } from '../../../shared/ml/train-graph.ts';

const CE: LossConfig = { kind: 'ce' };
const flatModel = (layers: LayerSpec[], input = [5]): ModelSpec => ({ input, classes: 3, layers: [...layers, { type: 'dense', units: 3 }] });

async function expectGood(spec: ModelSpec, loss: LossConfig, floatType: 'float32' | 'float64', opts = {}) {
  const r = await gradCheck(spec, loss, floatType, opts);
  assert.ok(r.checked > 0);
  assert.ok(r.worst <= 1, r.details.join('\n'));
}

const float64Layers: [string, ModelSpec][] = [
  ['dense + relu', flatModel([{ type: 'dense', units: 4 }, { type: 'relu' }])],
  ['dense + tanh', flatModel([{ type: 'dense', units: 4 }, { type: 'tanh' }])],
  ['dropout (fixed mask)', flatModel([{ type: 'dense', units: 6 }, { type: 'dropout', rate: 0.3 }])],
  ['batchnorm over features (train mode)', flatModel([{ type: 'dense', units: 4 }, { type: 'batchnorm' }])],
  ['layernorm', flatModel([{ type: 'dense', units: 4 }, { type: 'layernorm' }])],
  ['residual block', flatModel([{ type: 'dense', units: 4 }, { type: 'residual', layers: [{ type: 'dense', units: 4 }, { type: 'tanh' }, { type: 'dense', units: 4 }] }, { type: 'relu' }])],
  ['maxpool2d + flatten', { input: [2, 4, 4], classes: 3, layers: [{ type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  // Odd size: the tiling pool drops the last row and column, whose gradient must be zero (mask path).
  ['maxpool2d on an odd size (cropped tiles)', { input: [2, 5, 5], classes: 3, layers: [{ type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  // Overlapping windows take the argmax-indices path.
  ['maxpool2d with overlapping windows', { input: [1, 5, 5], classes: 3, layers: [{ type: 'maxpool2d', size: 3, stride: 2 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['batchnorm over channels (train mode)', { input: [2, 3, 3], classes: 3, layers: [{ type: 'batchnorm' }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
];
for (const [name, spec] of float64Layers) test(`gradient of ${name} matches finite differences (float64)`, () => expectGood(spec, CE, 'float64'));

test('gradient of embedding with mean pooling matches finite differences (float64)', () =>
  expectGood({ input: [4], classes: 3, layers: [{ type: 'embedding', vocab: 6, dim: 5 }, { type: 'dense', units: 3 }] }, CE, 'float64', { intInputs: 6 }));

const float32Layers: [string, ModelSpec][] = [
  ['conv2d (stride 1, padding 1) between layers', { input: [2, 5, 5], classes: 3, layers: [{ type: 'conv2d', filters: 3, kernel: 3, padding: 1 }, { type: 'relu' }, { type: 'conv2d', filters: 2, kernel: 3 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['conv2d (stride 2, uneven)', { input: [1, 6, 6], classes: 3, layers: [{ type: 'conv2d', filters: 2, kernel: 3 }, { type: 'conv2d', filters: 2, kernel: 2, stride: 2, padding: 1 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['avgpool2d', { input: [2, 4, 4], classes: 3, layers: [{ type: 'conv2d', filters: 2, kernel: 1 }, { type: 'avgpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['global average pool', { input: [2, 3, 3], classes: 3, layers: [{ type: 'conv2d', filters: 4, kernel: 1 }, { type: 'globalavgpool' }, { type: 'dense', units: 3 }] }],
  ['gelu', flatModel([{ type: 'dense', units: 4 }, { type: 'gelu' }])],
  // float32 graphs spread the tile max and gradient with Resize and count ties with AveragePool
  // (no float64 kernels in ORT CPU), float64 ones with Expand and ReduceSum: check both.
  ['maxpool2d + flatten', { input: [2, 4, 4], classes: 3, layers: [{ type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['maxpool2d 3×3 on an odd size (cropped tiles)', { input: [1, 7, 7], classes: 3, layers: [{ type: 'maxpool2d', size: 3 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
];
for (const [name, spec] of float32Layers) test(`gradient of ${name} matches finite differences (float32, see tolerance note)`, () => expectGood(spec, CE, 'float32', { samples: 4 }));

const losses: [string, LossConfig][] = [
  ['distillation KL on probabilities, per-sample T', { kind: 'distill', soft: 'kl', targets: 'probs', hardWeight: 0 }],
  ['distillation KL on teacher logits, per-sample T', { kind: 'distill', soft: 'kl', targets: 'logits', hardWeight: 0 }],
  ['hard/soft mix (alpha 0.3)', { kind: 'distill', soft: 'kl', targets: 'probs', hardWeight: 0.3 }],
  ['MSE on logits', { kind: 'distill', soft: 'mse', targets: 'logits', hardWeight: 0 }],
  ['MAE on logits', { kind: 'distill', soft: 'mae', targets: 'logits', hardWeight: 0 }],
];
for (const [name, loss] of losses) test(`gradient of ${name} matches finite differences (float64)`, () => expectGood(flatModel([]), loss, 'float64'));

test('the checker fails a deliberately wrong VJP rule (float64 and float32 tolerances)', async () => {
  const relu = VJP_RULES.Relu!;
  const erf = VJP_RULES.Erf!;
  try {
    VJP_RULES.Relu = (_g, _n, [gy]) => [gy]; // wrong: ignores the mask
    const r64 = await gradCheck(flatModel([{ type: 'dense', units: 4 }, { type: 'relu' }]), CE, 'float64', { samples: 12 });
    assert.ok(r64.worst > 1, 'a wrong ReLU rule must be detected');
    VJP_RULES.Erf = (g, n, gys, needs) => erf(g, n, gys, needs).map((t) => t && op.mul(g, t, g.constant(1.5)));
    const r32 = await gradCheck(flatModel([{ type: 'dense', units: 4 }, { type: 'gelu' }]), CE, 'float32', { samples: 12 });
    assert.ok(r32.worst > 1, 'a 1.5x-wrong Erf rule must be detected at float32 tolerance');
  } finally {
    VJP_RULES.Relu = relu;
    VJP_RULES.Erf = erf;
  }
});

test('tiling max pool shares the gradient equally among tied maxima, the same in float32 and float64 graphs', async () => {
  for (const size of [2, 3]) {
    const side = 2 * size + 1; // two tiles per axis and a cropped last row and column
    const layout = layoutOf({ input: [1, side, side], classes: 2, layers: [{ type: 'maxpool2d', size }, { type: 'flatten' }, { type: 'dense', units: 2 }] });
    const rng = new SeededRng(size);
    const x = Array.from({ length: 2 * side * side }, () => rng.int(2)); // values 0/1: many ties
    const w = Array.from({ length: 4 * 2 }, () => rng.normal());
    const grads: Record<string, ArrayLike<number>> = {};
    for (const ft of ['float32', 'float64'] as const) {
      const Arr = ft === 'float64' ? Float64Array : Float32Array;
      const t = (v: number[], dims: number[]) => new ort.Tensor(ft, Arr.from(v), dims);
      const s = await ort.InferenceSession.create(buildLossGraph(layout, CE, ft, true).toModel());
      const feeds: Record<string, ort.Tensor> = { x: t(x, [2, 1, side, side]), y_hard: t([1, 0, 0, 1], [2, 2]) };
      layout.params.forEach((p) => { feeds[names.param(p.name)] = p.shape.length === 2 ? t(w, p.shape) : t([0.1, -0.2], p.shape); });
      grads[ft] = (await s.run(feeds))[names.grad('x')]!.data as ArrayLike<number>;
    }
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(grads.float32![i]! - grads.float64![i]!) <= 1e-6, `size ${size}, element ${i}: ${grads.float32![i]} vs ${grads.float64![i]}`);
    // Within each tile: positions below the max get 0, the tied maxima equal shares of dL/dy for
    // the tile, computed here by hand: y = tile maxima, logits = y·W + b, mean cross-entropy.
    const pooled = (b: number, f: number) => Math.max(...Array.from({ length: size * size }, (_, k) => x[b * side * side + (Math.floor(f / 2) * size + Math.floor(k / size)) * side + (f % 2) * size + (k % size)]!));
    const dLdy = (b: number, f: number) => {
      const z = [0, 1].map((o) => [0, 1, 2, 3].reduce((a, q) => a + pooled(b, q) * w[q * 2 + o]!, o === 0 ? 0.1 : -0.2));
      const e = z.map((v) => Math.exp(v - Math.max(...z)));
      const p = e.map((v) => v / (e[0]! + e[1]!));
      return [0, 1].reduce((a, o) => a + w[f * 2 + o]! * (p[o]! - (o === b ? 1 : 0)) / 2, 0);
    };
    let shared = 0;
    for (let b = 0; b < 2; b++) for (let ti = 0; ti < 2; ti++) for (let tj = 0; tj < 2; tj++) {
      const at = (i: number, j: number) => b * side * side + (ti * size + i) * side + tj * size + j;
      const cells = Array.from({ length: size * size }, (_, k) => at(Math.floor(k / size), k % size));
      const top = Math.max(...cells.map((c) => x[c]!));
      const maxima = cells.filter((c) => x[c] === top);
      const total = maxima.reduce((a, c) => a + grads.float64![c]!, 0);
      assert.ok(Math.abs(total - dLdy(b, ti * 2 + tj)) < 1e-9, `tile sum ${total} vs dL/dy ${dLdy(b, ti * 2 + tj)}`);
      for (const c of cells) if (x[c] !== top) assert.ok(grads.float64![c] === 0, `below the max: ${grads.float64![c]}`);
      for (const c of maxima) assert.ok(Math.abs(grads.float64![c]! - grads.float64![maxima[0]!]!) < 1e-12);
      if (maxima.length > 1) shared++;
    }
    assert.ok(shared > 0, 'the input must hold tiles with tied maxima');
    // The cropped last row and column get no gradient.
    for (let b = 0; b < 2; b++) for (let k = 0; k < side; k++) {
      assert.ok(grads.float64![b * side * side + (side - 1) * side + k] === 0, 'cropped row');
      assert.ok(grads.float64![b * side * side + k * side + side - 1] === 0, 'cropped column');
    }
  }
});
