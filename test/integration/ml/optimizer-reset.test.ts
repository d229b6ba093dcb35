// Adam's step count restarts with its state (setWeights(w, true)) and survives checkpoints; evaluate's loss is exact at extreme logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRng } from '../../../shared/util/prng.ts';
import { Trainer, buildModel, loadCheckpoint, saveCheckpoint, type ModelSpec } from '../../../shared/ml/index.ts';

const spec: ModelSpec = { input: [8], classes: 3, layers: [{ type: 'dense', units: 6 }, { type: 'relu' }, { type: 'dense', units: 3 }] };
const rng = new SeededRng(1);
const data = { features: Float32Array.from({ length: 64 * 8 }, () => rng.normal()), labels: Uint8Array.from({ length: 64 }, () => rng.int(3)) };
const opts = { optimizer: 'adam' as const, batchSize: 16, threads: 1 };
const dir = mkdtempSync(join(tmpdir(), 'fedistill-optreset-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('after setWeights(w, true) Adam trains as a fresh Adam from w (bias corrections restart), in single steps and in Loop runs', async () => {
  for (const stepsPerRun of [1, 2]) {
    const w0 = buildModel(spec, { seed: 2 }).weights;
    const reused = new Trainer(buildModel(spec, { seed: 2 }), { ...opts, stepsPerRun });
    await reused.fit(data, { epochs: 3 });
    assert.equal(reused.optimizerStep, 12);
    reused.setWeights(w0, true);
    assert.deepEqual([reused.step, reused.optimizerStep], [12, 0]);
    await reused.fit(data, { epochs: 1 });
    const fresh = new Trainer(buildModel(spec, { seed: 2 }), { ...opts, stepsPerRun });
    fresh.epoch = 3; // the same shuffled order as the reused trainer's fourth epoch
    await fresh.fit(data, { epochs: 1 });
    fresh.getWeights().forEach((w, i) => assert.deepEqual(reused.getWeights()[i], w, `K=${stepsPerRun}, weight ${i}`));
    // Keeping the state keeps the count.
    reused.setWeights(reused.getWeights());
    assert.equal(reused.optimizerStep, 4);
  }
});

test('a checkpoint written after a reset resumes with the optimizer\'s own step count', async () => {
  const straight = new Trainer(buildModel(spec, { seed: 3 }), opts);
  await straight.fit(data, { epochs: 2 });
  straight.setWeights(straight.getWeights(), true);
  await straight.fit(data, { epochs: 1 });
  const path = join(dir, 'reset.ckpt');
  await saveCheckpoint(straight, path);
  await straight.fit(data, { epochs: 1 });

  const first = new Trainer(buildModel(spec, { seed: 3 }), opts);
  await first.fit(data, { epochs: 2 });
  first.setWeights(first.getWeights(), true);
  await first.fit(data, { epochs: 1 });
  const resumed = new Trainer(buildModel(spec, { seed: 9 }), opts);
  await loadCheckpoint(resumed, path);
  assert.deepEqual([resumed.step, resumed.optimizerStep], [12, 4]);
  await resumed.fit(data, { epochs: 1 });
  straight.getWeights().forEach((w, i) => assert.deepEqual(resumed.getWeights()[i], w, `weight ${i}`));
});

test('evaluate gives the exact cross-entropy at extreme logits (not capped at −log 1e-12) and refuses an empty set', async () => {
  const t = new Trainer(buildModel({ input: [2], classes: 2, layers: [{ type: 'dense', units: 2 }] }), { threads: 1 });
  t.setWeights([Float32Array.from([1e3, -1e3, 0, 0]), Float32Array.from([0, 0])]);
  // logits [1000, −1000] for x = [1, 0]: label 1 costs 2000, label 0 costs 0.
  const r = await t.evaluate({ features: Float32Array.from([1, 0, 1, 0]), labels: [1, 0] });
  assert.equal(r.loss, 1000);
  assert.equal(r.accuracy, 0.5);
  await assert.rejects(t.evaluate({ features: new Float32Array(0), labels: [] }), { code: 'E_EMPTY_DATASET' });
});
