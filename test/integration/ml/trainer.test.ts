// Trainer end to end on small synthetic data: learning, export parity, checkpoint resume, distillation, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SeededRng } from '../../../shared/util/prng.ts';
import { Trainer, buildModel, loadCheckpoint, loadOnnxTeacher, saveCheckpoint, type ModelSpec } from '../../../shared/ml/index.ts';

/** Gaussian blobs: class k centred at a random point; learnable to ~100%. */
function blobs(n: number, dim: number, classes: number, seed: number) {
  const rng = new SeededRng(seed);
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => rng.normal() * 2));
  const features = new Float32Array(n * dim);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = rng.int(classes);
    labels[i] = k;
    for (let j = 0; j < dim; j++) features[i * dim + j] = centres[k]![j]! + rng.normal() * 0.7;
  }
  return { features, labels };
}

const small: ModelSpec = { input: [16], classes: 4, layers: [{ type: 'dense', units: 32 }, { type: 'relu' }, { type: 'dropout', rate: 0.1 }, { type: 'batchnorm' }, { type: 'dense', units: 4 }] };
const tmp = mkdtempSync(join(tmpdir(), 'fedistill-ml-'));

test('training learns synthetic blobs with sgd and adam (loss falls, accuracy > 90%)', async () => {
  const data = blobs(600, 16, 4, 1);
  for (const optimizer of ['sgd', 'adam', 'adamw'] as const) {
    const t = new Trainer(buildModel(small, { seed: 1 }), { optimizer, batchSize: 32, threads: 1 });
    const h = await t.fit(data, { epochs: 3 });
    assert.ok(h[2]!.loss < h[0]!.loss, `${optimizer}: loss should fall`);
    const ev = await t.evaluate(blobs(300, 16, 4, 1));
    assert.ok(ev.accuracy > 0.9, `${optimizer}: accuracy ${ev.accuracy}`);
  }
});

test('the exported .onnx gives the trainer\'s predictions', async () => {
  const t = new Trainer(buildModel(small, { seed: 2 }), { batchSize: 50, threads: 1 });
  const data = blobs(200, 16, 4, 2);
  await t.fit(data, { epochs: 1 });
  const path = join(tmp, 'student.onnx');
  await t.exportOnnx(path);
  const mine = await t.predict(data.features);
  const s = await ort.InferenceSession.create(path);
  const out = await s.run({ input: new ort.Tensor('float32', data.features, [200, 16]) });
  const theirs = out.logits!.data as Float32Array;
  for (let i = 0; i < theirs.length; i++) assert.ok(Math.abs(theirs[i]! - mine.logits[i]!) < 1e-4);
  const teacher = await loadOnnxTeacher(path);
  const tp = await teacher.predict(data.features.subarray(0, 16 * 10));
  assert.deepEqual(Array.from(tp.probs).map((v) => v.toFixed(4)), Array.from(mine.probs.subarray(0, 40)).map((v) => v.toFixed(4)));
});

test('a resumed checkpoint gives the same weights as an uninterrupted run', async () => {
  const data = blobs(256, 16, 4, 3);
  const opts = { optimizer: 'adam' as const, batchSize: 32, threads: 1, seed: 5, schedule: { kind: 'cosine' as const, totalEpochs: 3 } };
  const straight = new Trainer(buildModel(small, { seed: 3 }), opts);
  await straight.fit(data, { epochs: 3 });
  const first = new Trainer(buildModel(small, { seed: 3 }), opts);
  await first.fit(data, { epochs: 1 });
  const path = join(tmp, 'ck.bin');
  await saveCheckpoint(first, path);
  const resumed = new Trainer(buildModel(small, { seed: 99 }), opts);
  assert.deepEqual(await loadCheckpoint(resumed, path), [], 'the same options: nothing to report');
  assert.equal(resumed.epoch, 1);
  // other options still load, and each difference is reported (the result will not be the straight run's)
  const other = new Trainer(buildModel(small, { seed: 3 }), { ...opts, lr: 0.5, batchSize: 16 });
  const diff = await loadCheckpoint(other, path);
  assert.deepEqual(diff.map((d) => d.split(':')[0]), ['lr', 'batchSize']);
  assert.match(diff[0]!, /^lr: 0\.001 in the checkpoint, 0\.5 now$/);
  await resumed.fit(data, { epochs: 2 });
  const a = straight.getWeights();
  const b = resumed.getWeights();
  a.forEach((w, i) => assert.deepEqual(b[i], w));
  assert.deepEqual(resumed.model.buffers, straight.model.buffers);
});

for (const stepsPerRun of [1, 3]) {
  test(`a checkpoint taken in the middle of an epoch resumes to the uninterrupted run's weights (${stepsPerRun} step${stepsPerRun > 1 ? 's' : ''} per run)`, async () => {
    // 13 batches per epoch (12 of 20 and one of 16); with 3 steps per run, 4 ONNX Loop runs then 1 step.
    const data = blobs(256, 16, 4, 6);
    const opts = { optimizer: 'sgd' as const, batchSize: 20, threads: 1, seed: 7, stepsPerRun, schedule: { kind: 'cosine' as const, totalEpochs: 2 } };
    const straight = new Trainer(buildModel(small, { seed: 4 }), opts);
    const straightEpochs = await straight.fit(data, { epochs: 2 });

    // Stopped after two runs of epoch 1: the fit returns there, with the position and the state on the host.
    const first = new Trainer(buildModel(small, { seed: 4 }), opts);
    let runs = 0;
    assert.deepEqual(await first.fit(data, { epochs: 2, shouldStop: () => ++runs === 2 }), []);
    assert.equal(first.epoch, 0);
    assert.equal(first.step, 2 * stepsPerRun);
    assert.equal(first.position?.batch, 2 * stepsPerRun);
    const path = join(tmp, `mid-${stepsPerRun}.ckpt`);
    await saveCheckpoint(first, path, 'blobs(256)');

    const resumed = new Trainer(buildModel(small, { seed: 99 }), opts);
    assert.deepEqual(await loadCheckpoint(resumed, path, 'blobs(256)'), []);
    assert.deepEqual(resumed.position, first.position);
    const rest = await resumed.fit(data, { epochs: 2 });
    assert.deepEqual([resumed.epoch, resumed.step, resumed.position], [2, straight.step, undefined]);
    straight.getWeights().forEach((w, i) => assert.deepEqual(resumed.getWeights()[i], w, `weight ${i}`));
    assert.deepEqual(resumed.model.buffers, straight.model.buffers);
    // The finished epoch reports the whole epoch's loss and accuracy, to the bit, and counts only the samples trained after resuming.
    assert.deepEqual(rest.map((r) => [r.loss, r.accuracy]), straightEpochs.map((r) => [r.loss, r.accuracy]));
    assert.deepEqual([rest[0]!.samples, rest[1]!.samples], [256 - 2 * stepsPerRun * 20, 256]);

    // Periodic checkpoints leave the run unchanged; the last one also resumes to its result.
    const periodic = new Trainer(buildModel(small, { seed: 4 }), opts);
    const saves: { step: number; batch: number | undefined }[] = [];
    const every = join(tmp, `every-${stepsPerRun}.ckpt`);
    await periodic.fit(data, { epochs: 2, checkpoint: { every: 4, save: async () => { saves.push({ step: periodic.step, batch: periodic.position?.batch }); await saveCheckpoint(periodic, every); } } });
    straight.getWeights().forEach((w, i) => assert.deepEqual(periodic.getWeights()[i], w, `periodic: weight ${i}`));
    assert.ok(saves.length >= 3 && saves.every((x, i) => x.batch !== undefined && x.step - (saves[i - 1]?.step ?? 0) >= 4), JSON.stringify(saves));
    const fromLast = new Trainer(buildModel(small, { seed: 99 }), opts);
    await loadCheckpoint(fromLast, every);
    assert.equal(fromLast.step, saves.at(-1)!.step);
    await fromLast.fit(data, { epochs: 2 - fromLast.epoch });
    straight.getWeights().forEach((w, i) => assert.deepEqual(fromLast.getWeights()[i], w, `from the last periodic checkpoint: weight ${i}`));

    // Other batches would not be the stopped epoch's: another batch size or sample count is refused at the fit.
    const otherBatch = new Trainer(buildModel(small, { seed: 4 }), { ...opts, batchSize: 32 });
    assert.deepEqual((await loadCheckpoint(otherBatch, path, 'blobs(200)')).map((d) => d.split(':')[0]), ['batchSize', 'data']);
    await assert.rejects(otherBatch.fit(data, { epochs: 1 }), { code: 'E_CHECKPOINT_MISMATCH', message: /stopped after batch \d+ of a fit of 256 samples in batches of 20; this fit has 256 samples in batches of 32/ });
    // Other steps per run go on (the learning rate is held per run, so it is reported) and train every batch left.
    const otherK = new Trainer(buildModel(small, { seed: 4 }), { ...opts, stepsPerRun: stepsPerRun === 1 ? 5 : 1 });
    assert.deepEqual((await loadCheckpoint(otherK, path)).map((d) => d.split(':')[0]), ['stepsPerRun']);
    await otherK.fit(data, { epochs: 1 });
    assert.deepEqual([otherK.epoch, otherK.step], [1, 13]);
    const otherData = new Trainer(buildModel(small, { seed: 4 }), opts);
    await loadCheckpoint(otherData, path);
    await assert.rejects(otherData.fit(blobs(200, 16, 4, 6), { epochs: 1 }), { code: 'E_CHECKPOINT_MISMATCH', message: /this fit has 200 samples/ });
  });
}

test('a stop asked for during the last run of an epoch ends a fit of several epochs between them, not one run into the next', async () => {
  const t = new Trainer(buildModel(small, { seed: 3 }), { batchSize: 10, threads: 1, stepsPerRun: 1 });
  let stop = false;
  const r = await t.fit(blobs(100, 16, 4, 3), { epochs: 3, onProgress: (p) => { if (p.done) stop = true; }, shouldStop: () => stop });
  assert.deepEqual([r.length, t.epoch, t.step, t.position], [1, 1, 10, undefined]);
});

test('a checkpoint whose mid-epoch position is not a batch inside an epoch is E_CHECKPOINT_INVALID', async () => {
  const t = new Trainer(buildModel(small, { seed: 3 }), { batchSize: 10, threads: 1, stepsPerRun: 1 });
  await t.fit(blobs(100, 16, 4, 3), { epochs: 1, shouldStop: () => true });
  const path = join(tmp, 'position.ckpt');
  await saveCheckpoint(t, path);
  const good = readFileSync(path);
  const len = good.readUInt32LE(6);
  const header = JSON.parse(good.subarray(10, 10 + len).toString()) as { position: Record<string, number> };
  assert.equal(header.position.batch, 1);
  await loadCheckpoint(new Trainer(buildModel(small, { seed: 3 }), { batchSize: 10, threads: 1, stepsPerRun: 1 }), path);
  const withPosition = (position: object) => {
    const json = Buffer.from(JSON.stringify({ ...header, position }));
    writeFileSync(path, Buffer.concat([good.subarray(0, 6), new Uint8Array(new Uint32Array([json.length]).buffer), json, good.subarray(10 + len)]));
  };
  // The first mid-epoch checkpoints had no graphSums (all sums in lossSum and correct): they load and go on.
  const { graphSums, ...older } = header.position as unknown as { graphSums: [number, number] };
  withPosition({ ...older, lossSum: graphSums[0], correct: graphSums[1] });
  const fromOlder = new Trainer(buildModel(small, { seed: 3 }), { batchSize: 10, threads: 1, stepsPerRun: 1 });
  await loadCheckpoint(fromOlder, path);
  await fromOlder.fit(blobs(100, 16, 4, 3), { epochs: 1 });
  assert.deepEqual([fromOlder.epoch, fromOlder.step], [1, 10]);
  for (const bad of [{ batch: 10 }, { batch: 0 }, { batch: 1.5 }, { lossSum: null }, { samples: -1 }, { correct: 11 }, { graphSums: [1] }, { graphSums: [0, 11] }, { graphSums: [null, 0] }]) {
    withPosition({ ...header.position, ...bad });
    await assert.rejects(loadCheckpoint(new Trainer(buildModel(small, { seed: 3 }), { batchSize: 10, threads: 1 }), path), { code: 'E_CHECKPOINT_INVALID', message: /mid-epoch position/ }, JSON.stringify(bad));
  }
});

test('distillation with per-sample temperatures moves the student towards the teacher', async () => {
  const data = blobs(400, 16, 4, 4);
  const teacher = new Trainer(buildModel(small, { seed: 4 }), { batchSize: 32, threads: 1 });
  await teacher.fit(data, { epochs: 3 });
  const soft = await teacher.predict(data.features);
  const temps = Float32Array.from({ length: 400 }, (_, i) => 1 + (i % 4));
  const student = new Trainer(buildModel(small, { seed: 40 }), { batchSize: 32, threads: 1, lr: 3e-3 });
  const before = await student.evaluate(data);
  await student.distill({ features: data.features, softTargets: soft.logits, targetKind: 'logits', temperatures: temps, alpha: 0.2, hardLabels: data.labels }, { epochs: 3 });
  const after = await student.evaluate(data);
  assert.ok(after.accuracy > 0.9 && after.accuracy > before.accuracy, `student ${before.accuracy} → ${after.accuracy}`);
  const fedmd = new Trainer(buildModel(small, { seed: 41 }), { batchSize: 32, threads: 1, lr: 3e-3 });
  await fedmd.distill({ features: data.features, softTargets: soft.logits, softLoss: 'mae' }, { epochs: 3 });
  assert.ok((await fedmd.evaluate(data)).accuracy > 0.85);
});

test('invalid specs and shape mismatches fail with clear errors before any graph is built', async () => {
  assert.throws(() => buildModel({ input: [16], classes: 4, layers: [{ type: 'dense', units: 3 }] }), { code: 'E_SHAPE_MISMATCH', message: /3 classes|4 classes/ });
  assert.throws(() => buildModel({ input: [1, 8, 8], classes: 4, layers: [{ type: 'dense', units: 4 }] }), { code: 'E_SHAPE_MISMATCH', message: /flatten/ });
  assert.throws(() => buildModel({ input: [1, 4, 4], classes: 2, layers: [{ type: 'conv2d', filters: 2, kernel: 5 }, { type: 'flatten' }, { type: 'dense', units: 2 }] }), { code: 'E_SHAPE_MISMATCH' });
  assert.throws(() => buildModel({ input: [4], classes: 2, layers: [{ type: 'dense', units: 0 }] }), { code: 'E_INVALID_MODEL_SPEC', message: /units/ });
  assert.throws(() => buildModel({ input: [4], classes: 2, layers: [{ type: 'bogus' } as never] }), { code: 'E_INVALID_MODEL_SPEC', message: /unknown layer type/ });
  assert.throws(() => buildModel('resnet' as never), { code: 'E_UNKNOWN_MODEL' });
  const t = new Trainer(buildModel(small), { threads: 1 });
  await assert.rejects(t.fit({ features: new Float32Array(15), labels: [0] }, { epochs: 1 }), { code: 'E_SHAPE_MISMATCH' });
  await assert.rejects(t.fit({ features: new Float32Array(16), labels: [7] }, { epochs: 1 }), { code: 'E_SHAPE_MISMATCH', message: /outside 0..3/ });
  assert.throws(() => t.setWeights([new Float32Array(3)]), { code: 'E_SHAPE_MISMATCH' });
  assert.throws(() => new Trainer(buildModel(small), { optimizer: 'rmsprop' as never }), { code: 'E_INVALID_PARAMETER' });
});

test('K steps in one ONNX Loop run give the same weights as K single steps (batchnorm, dropout)', async () => {
  const spec: ModelSpec = { input: [16], classes: 4, layers: [{ type: 'dense', units: 32 }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'dropout', rate: 0.3 }, { type: 'dense', units: 4 }] };
  const data = blobs(300, 16, 4, 6); // 9 full batches of 32 + a partial one: 2 loops of 4, then 2 single steps
  const single = new Trainer(buildModel(spec, { seed: 6 }), { optimizer: 'adam', batchSize: 32, threads: 1 });
  const looped = new Trainer(buildModel(spec, { seed: 6 }), { optimizer: 'adam', batchSize: 32, threads: 1, stepsPerRun: 4 });
  const [a] = await single.fit(data, { epochs: 1 });
  const [b] = await looped.fit(data, { epochs: 1 });
  assert.equal(looped.step, single.step);
  assert.ok(Math.abs(a!.loss - b!.loss) < 1e-5);
  const wa = single.getWeights(), wb = looped.getWeights();
  wa.forEach((w, i) => w.forEach((v, j) => assert.ok(Math.abs(v - wb[i]![j]!) < 1e-5)));
  looped.model.buffers.forEach((buf, i) => buf.forEach((v, j) => assert.ok(Math.abs(v - single.model.buffers[i]![j]!) < 1e-5)));
});

test('setLearningRate changes the rate and keeps the optimizer state (= a step schedule)', async () => {
  const data = blobs(256, 16, 4, 6);
  const opts = { optimizer: 'adam' as const, lr: 0.01, batchSize: 32, threads: 1, seed: 7 };
  const stepped = new Trainer(buildModel(small, { seed: 6 }), { ...opts, schedule: { kind: 'step' as const, everyEpochs: 1, gamma: 0.25 } });
  await stepped.fit(data, { epochs: 2 });
  const manual = new Trainer(buildModel(small, { seed: 6 }), opts);
  await manual.fit(data, { epochs: 1 });
  manual.setLearningRate(0.0025);
  assert.equal(manual.lr, 0.0025);
  await manual.fit(data, { epochs: 1 });
  const a = stepped.getWeights();
  const b = manual.getWeights();
  a.forEach((w, i) => w.forEach((v, j) => assert.ok(Math.abs(v - b[i]![j]!) < 1e-6, `weight ${i}[${j}]: ${v} vs ${b[i]![j]}`)));
  // Restarting Adam instead (fresh moments and step) lands elsewhere: the state really is carried.
  const restarted = new Trainer(buildModel(small, { seed: 6 }), opts);
  await restarted.fit(data, { epochs: 1 });
  restarted.setWeights(restarted.getWeights(), true);
  restarted.setLearningRate(0.0025);
  await restarted.fit(data, { epochs: 1 });
  const c = restarted.getWeights();
  assert.ok(c.some((w, i) => w.some((v, j) => Math.abs(v - b[i]![j]!) > 1e-4)), 'a fresh Adam state should change the result');
  assert.throws(() => manual.setLearningRate(0), /lr: must be a positive number/);
  assert.throws(() => manual.setLearningRate(Number.NaN), /lr/);
});

test('the epoch loss is the mean over samples: a partial last batch counts by its rows', async () => {
  const plain: ModelSpec = { input: [16], classes: 4, layers: [{ type: 'dense', units: 8 }, { type: 'relu' }, { type: 'dense', units: 4 }] };
  const data = blobs(103, 16, 4, 9);
  // A learning rate this small leaves the weights as they are, so the training loss is the eval loss.
  const t = new Trainer(buildModel(plain, { seed: 4 }), { optimizer: 'sgd', lr: 1e-30, batchSize: 25, threads: 1 });
  const [epoch] = await t.fit(data, { epochs: 1 });
  const ev = await t.evaluate(data);
  assert.ok(Math.abs(epoch!.loss - ev.loss) < 1e-5, `epoch loss ${epoch!.loss} vs mean loss ${ev.loss}`);
  assert.ok(Math.abs(epoch!.accuracy - ev.accuracy) < 1e-12, `epoch accuracy ${epoch!.accuracy} vs ${ev.accuracy}`);
});

test('a truncated, altered or foreign checkpoint is E_CHECKPOINT_INVALID; an unwritable path is E_FILE_WRITE', async () => {
  const t = new Trainer(buildModel(small, { seed: 3 }), { batchSize: 50, threads: 1 });
  await t.fit(blobs(100, 16, 4, 3), { epochs: 1 });
  const path = join(tmp, 'good.ckpt');
  await saveCheckpoint(t, path);
  const good = readFileSync(path);
  const cases: [string, Buffer][] = [
    ['truncated data', good.subarray(0, good.length - 4)],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0, 0, 0, 0])])],
    ['header cut', good.subarray(0, 20)],
    ['not a checkpoint', Buffer.from('hello world, not a checkpoint')],
    ['header not JSON', Buffer.concat([good.subarray(0, 10), Buffer.from('{'.repeat(good.readUInt32LE(6))), good.subarray(10 + good.readUInt32LE(6))])],
    // one weight overwritten, length intact: only the checksum can tell
    ['a flipped weight', (() => { const b = Buffer.from(good); b.writeFloatLE(3.4e38, b.length - 8); return b; })()],
  ];
  for (const [what, bytes] of cases) {
    const bad = join(tmp, 'bad.ckpt');
    writeFileSync(bad, bytes);
    const fresh = new Trainer(buildModel(small, { seed: 3 }), { batchSize: 50, threads: 1 });
    await assert.rejects(loadCheckpoint(fresh, bad), { code: 'E_CHECKPOINT_INVALID' }, what);
  }
  await assert.rejects(saveCheckpoint(t, join(tmp, 'no-such-folder', 'x.ckpt')), { code: 'E_FILE_WRITE', message: /folder does not exist/ });
  await assert.rejects(t.exportOnnx(join(tmp, 'no-such-folder', 'x.onnx')), { code: 'E_FILE_WRITE' });
  // The atomic write leaves no temporary files behind, and the good checkpoint still loads.
  assert.deepEqual(readdirSync(tmp).filter((f) => f.includes('.tmp-')), []);
  await loadCheckpoint(new Trainer(buildModel(small, { seed: 3 }), { batchSize: 50, threads: 1 }), path);
});
