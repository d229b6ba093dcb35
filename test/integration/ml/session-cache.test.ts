// Trainers of the same model share their onnxruntime sessions (session-cache.ts) without sharing any state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SeededRng } from '../../../shared/util/prng.ts';
import { Trainer, buildModel, type ModelSpec } from '../../../shared/ml/index.ts';
import { sharedSessionCount } from '../../../shared/ml/session-cache.ts';

function data(n: number, seed: number) {
  const rng = new SeededRng(seed);
  const features = Float32Array.from({ length: n * 8 }, () => rng.normal());
  const labels = Uint8Array.from({ length: n }, (_, i) => (features[i * 8]! > 0 ? 1 : 0) + (features[i * 8 + 1]! > 0 ? 2 : 0));
  return { features, labels };
}

const spec: ModelSpec = { input: [8], classes: 4, layers: [{ type: 'dense', units: 16 }, { type: 'relu' }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 4 }] };
const trainer = (seed: number) => new Trainer(buildModel(spec, { seed }), { optimizer: 'adam', batchSize: 16, threads: 1, seed });

/** What a site does each round: local training, distillation on soft targets, prediction. */
async function siteWork(t: Trainer, seed: number): Promise<Float32Array[]> {
  const d = data(200, seed);
  await t.fit(d, { epochs: 2 });
  const publicSet = data(64, seed + 100).features;
  const softTargets = (await t.predict(publicSet)).probs;
  await t.distill({ features: publicSet, softTargets, temperature: 2 }, { epochs: 1 });
  return t.getWeights();
}

test('trainers of one model share sessions; run at once, each ends exactly where it ends alone', async () => {
  const before = sharedSessionCount();
  const alone: Float32Array[][] = [];
  for (const seed of [1, 2, 3]) {
    const t = trainer(seed);
    alone.push(await siteWork(t, seed));
    await t.release();
  }
  assert.equal(sharedSessionCount(), before, 'released trainers leave no session behind');

  const sites = [1, 2, 3].map(trainer);
  const together = await Promise.all(sites.map((t, i) => siteWork(t, i + 1))); // interleaved runs on the shared sessions
  const held = sharedSessionCount() - before;
  assert.ok(held >= 3 && held <= 6, `three trainers of one model hold one set of sessions (step, loop, distill step and loop, eval), got ${held}`);
  together.forEach((w, i) => w.forEach((p, j) => assert.deepEqual(p, alone[i]![j]!, `site ${i + 1} param ${j}`)));

  // a trainer that gives its sessions back does not take them from the others
  await sites[0]!.release();
  assert.equal(sharedSessionCount() - before, held);
  assert.ok((await sites[1]!.evaluate(data(50, 9))).n === 50);
  await Promise.all(sites.slice(1).map((t) => t.release()));
  assert.equal(sharedSessionCount(), before);
});

test('another model or another thread count gets its own sessions', async () => {
  const before = sharedSessionCount();
  const a = trainer(1);
  const wider = new Trainer(buildModel({ ...spec, layers: [{ type: 'dense', units: 32 }, { type: 'relu' }, { type: 'dense', units: 4 }] }, { seed: 1 }), { batchSize: 16, threads: 1 });
  const twoThreads = new Trainer(buildModel(spec, { seed: 1 }), { optimizer: 'adam', batchSize: 16, threads: 2, seed: 1 });
  const x = data(20, 5).features;
  await a.predict(x);
  assert.equal(sharedSessionCount() - before, 1);
  await wider.predict(x);
  await twoThreads.predict(x);
  assert.equal(sharedSessionCount() - before, 3);
  await Promise.all([a, wider, twoThreads].map((t) => t.release()));
  assert.equal(sharedSessionCount(), before);
});

test('FEDISTILL_ORT_PROFILE is part of what a session is: a trainer leased with it set gets a profiled session and writes its profile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-shared-profile-'));
  const x = data(20, 5).features;
  const plain = trainer(1);
  await plain.predict(x); // holds the unprofiled evaluation session
  process.env.FEDISTILL_ORT_PROFILE = dir;
  try {
    const profiled = trainer(2);
    await profiled.predict(x);
    await profiled.release();
    assert.ok(readdirSync(dir).some((f) => /^ort_.*\.json$/.test(f)), 'the profiled trainer\'s session wrote its profile on release');
  } finally {
    delete process.env.FEDISTILL_ORT_PROFILE;
    await plain.release();
    rmSync(dir, { recursive: true, force: true });
  }
});

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

test('a trainer dropped without release does not pin its sessions: once it is collected the cache lets them go', async () => {
  const before = sharedSessionCount();
  const useAndDrop = async () => {
    const t = new Trainer(buildModel({ ...spec, layers: [{ type: 'dense', units: 5 }, { type: 'dense', units: 4 }] }, { seed: 3 }), { batchSize: 16, threads: 1 });
    await t.predict(data(8, 6).features);
  };
  await useAndDrop();
  assert.equal(sharedSessionCount(), before + 1, 'the dropped trainer\'s evaluation session is still cached');
  for (let i = 0; i < 100 && sharedSessionCount() > before; i++) { collectGarbage(); await new Promise((r) => setImmediate(r)); }
  assert.equal(sharedSessionCount(), before, 'its lease is given back when the trainer is collected');
});

test('a fit with fewer than K full batches builds no K-step session (it would never run); one with K builds it', async () => {
  const before = sharedSessionCount();
  const t = new Trainer(buildModel(spec, { seed: 4 }), { optimizer: 'adam', batchSize: 16, threads: 1, seed: 4, stepsPerRun: 4 });
  await t.fit(data(16 * 3 + 5, 7), { epochs: 1 }); // 3 full batches and a partial one, K = 4
  assert.equal(sharedSessionCount() - before, 1, 'the single-step session only');
  await t.fit(data(16 * 4, 7), { epochs: 1 });
  assert.equal(sharedSessionCount() - before, 2, 'and the K-step (Loop) session');
  await t.release();
  assert.equal(sharedSessionCount(), before);
});
