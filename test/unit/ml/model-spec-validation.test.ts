// Spec fields the layer code reads (init, batchnorm/layernorm eps and momentum, where an embedding may sit) and token ids are checked before any graph is built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, Trainer, type ModelSpec } from '../../../shared/ml/index.ts';
import type { LayerSpec } from '../../../shared/ml/model-spec.ts';

const flat = (layers: LayerSpec[]): ModelSpec => ({ input: [4], classes: 2, layers: [...layers, { type: 'dense', units: 2 }] });

test('an unknown init is refused (it used to leave the weights at zero), as are out-of-range eps and momentum', () => {
  const cases: [ModelSpec, RegExp][] = [
    [{ input: [4], classes: 2, layers: [{ type: 'dense', units: 2, init: 'xavier' as never }] }, /layer 0 \(dense\): init must be 'he' or 'glorot', got "xavier"/],
    [{ input: [1, 4, 4], classes: 2, layers: [{ type: 'conv2d', filters: 1, kernel: 3, init: 'normal' as never }, { type: 'flatten' }, { type: 'dense', units: 2 }] }, /init must be 'he' or 'glorot'/],
    [flat([{ type: 'batchnorm', eps: 0 }]), /batchnorm\): eps must be a number in \(0, 1\], got 0/],
    [flat([{ type: 'batchnorm', eps: -1e-5 }]), /eps must be a number/],
    [flat([{ type: 'batchnorm', momentum: 5 }]), /momentum must be a number in \[0, 1\], got 5/],
    [flat([{ type: 'batchnorm', momentum: Number.NaN }]), /momentum must be a number/],
    [flat([{ type: 'layernorm', eps: '1e-5' as never }]), /layernorm\): eps must be a number/],
  ];
  for (const [spec, message] of cases) assert.throws(() => buildModel(spec), { code: 'E_INVALID_MODEL_SPEC', message }, String(message));
  // The documented values and defaults still build.
  buildModel(flat([{ type: 'batchnorm', momentum: 0, eps: 1e-3 }, { type: 'layernorm', eps: 1e-6 }, { type: 'dense', units: 3, init: 'glorot' }]));
});

test('an embedding anywhere but first is refused: it would cast activations to token ids', () => {
  assert.throws(() => buildModel(flat([{ type: 'dense', units: 4 }, { type: 'embedding', vocab: 3, dim: 2 }])), { code: 'E_INVALID_MODEL_SPEC', message: /layer 1 \(embedding\): embedding must be the first layer/ });
  assert.throws(() => buildModel(flat([{ type: 'residual', layers: [{ type: 'embedding', vocab: 4, dim: 4 }] }])), { code: 'E_INVALID_MODEL_SPEC', message: /not inside a residual branch/ });
  buildModel({ input: [3], classes: 2, layers: [{ type: 'embedding', vocab: 5, dim: 4 }, { type: 'dense', units: 2 }] });
});

test('token ids that are negative, fractional or past the vocabulary are E_SHAPE_MISMATCH before training, evaluating or predicting', async () => {
  const t = new Trainer(buildModel({ input: [3], classes: 2, layers: [{ type: 'embedding', vocab: 5, dim: 4 }, { type: 'dense', units: 2 }] }, { seed: 1 }), { threads: 1, batchSize: 2 });
  for (const [bad, shown] of [[-1, '-1'], [1.5, '1.5'], [5, '5']] as const) {
    const features = Float32Array.from([0, 1, 2, 4, bad, 3]);
    const message = new RegExp(`token id ${shown} at position 4 is not a whole number in 0\\.\\.4`);
    await assert.rejects(t.fit({ features, labels: [0, 1] }, { epochs: 1 }), { code: 'E_SHAPE_MISMATCH', message });
    await assert.rejects(t.evaluate({ features, labels: [0, 1] }), { code: 'E_SHAPE_MISMATCH', message });
    await assert.rejects(t.predict(features), { code: 'E_SHAPE_MISMATCH', message });
    await assert.rejects(t.distill({ features, softTargets: new Float32Array(4).fill(0.5) }, { epochs: 1 }), { code: 'E_SHAPE_MISMATCH', message });
  }
  assert.equal(t.step, 0);
});
