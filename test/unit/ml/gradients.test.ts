// Gradient checks: every layer and loss against central finite differences (float64 where ORT has kernels).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck } from './gradcheck.ts';
import type { LayerSpec, ModelSpec } from '../../../shared/ml/model-spec.ts';
import type { LossConfig } from '../../../shared/ml/losses.ts';
import { VJP_RULES } from '../../../shared/ml/vjp-rules.ts';
import * as op from '../../../shared/ml/ops.ts';

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
