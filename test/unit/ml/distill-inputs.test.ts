// A distillation fit's soft targets are checked before any graph runs: finite values, and logits (not probabilities) for MSE/MAE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, Trainer } from '../../../shared/ml/index.ts';
import { distillColumns } from '../../../shared/ml/train-data.ts';

const features = Float32Array.from({ length: 6 * 4 }, (_, i) => (i % 7) / 7);

test('a NaN or infinite soft target is refused, naming the sample and class, before any step', async () => {
  const t = new Trainer(buildModel({ input: [4], classes: 3, layers: [{ type: 'dense', units: 3 }] }, { seed: 1 }), { threads: 1, batchSize: 2 });
  for (const bad of [Number.NaN, Infinity]) {
    const softTargets = new Float32Array(6 * 3).fill(1 / 3);
    softTargets[4 * 3 + 2] = bad;
    await assert.rejects(t.distill({ features, softTargets }, { epochs: 1 }), { code: 'E_SHAPE_MISMATCH', message: new RegExp(`soft target ${bad} at sample 4, class 2 is not a finite number`) });
  }
  assert.equal(t.step, 0);
  // A pure hard-label mix (alpha 1) never reads the soft targets.
  const softTargets = new Float32Array(6 * 3).fill(Number.NaN);
  await t.distill({ features, softTargets, alpha: 1, hardLabels: [0, 1, 2, 0, 1, 2] }, { epochs: 1 });
  assert.equal(t.step, 3);
  await t.release();
});

test('MSE and MAE compare logits: targets declared as probabilities are refused, and undeclared ones are taken as logits', () => {
  const softTargets = new Float32Array(6 * 3);
  for (const softLoss of ['mse', 'mae'] as const) {
    assert.throws(() => distillColumns({ features, softTargets, softLoss, targetKind: 'probs' }, [4], 3), { code: 'E_INVALID_PARAMETER', message: new RegExp(`softLoss '${softLoss}' compares the student's logits with teacher logits`) });
    const { loss, columns } = distillColumns({ features, softTargets, softLoss }, [4], 3);
    assert.deepEqual(loss, { kind: 'distill', soft: softLoss, targets: 'logits', hardWeight: 0 });
    assert.deepEqual(Object.keys(columns).sort(), ['x', 'y_soft']);
  }
  const kl = distillColumns({ features, softTargets: new Float32Array(18).fill(1 / 3), temperature: 2 }, [4], 3);
  assert.deepEqual(kl.loss, { kind: 'distill', soft: 'kl', targets: 'probs', hardWeight: 0 });
  assert.deepEqual([...kl.columns.temperature!], new Array(6).fill(2));
});
