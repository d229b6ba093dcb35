// Settings the engine does not know, and values its float32 step cannot survive, are refused before any
// graph runs; they used to be ignored (a `strides: 2` trained a stride-1 conv) or to turn every weight NaN.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, Trainer, type ModelSpec } from '../../../shared/ml/index.ts';
import type { LayerSpec } from '../../../shared/ml/model-spec.ts';
import type { OptimizerConfig } from '../../../shared/ml/optimizers.ts';
import type { LrSchedule } from '../../../shared/ml/lr-schedule.ts';
import type { TrainerOptions } from '../../../shared/ml/trainer-types.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import { loadCheckpoint, saveCheckpoint } from '../../../shared/ml/checkpoint.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const image = (layer: Record<string, unknown>): ModelSpec =>
  ({ input: [1, 8, 8], classes: 2, layers: [layer as unknown as LayerSpec, { type: 'flatten' }, { type: 'dense', units: 2 }] });

test('a layer setting the engine does not have is refused with the layer, a suggestion and the settings it has', () => {
  const cases: [ModelSpec, string][] = [
    [image({ type: 'conv2d', filters: 2, kernel: 3, strides: 2 }), 'conv2d has no setting "strides" (did you mean stride?); its settings are filters, kernel, stride, padding, init'],
    [image({ type: 'conv2d', filters: 2, kernel: 3, dilation: 2 }), 'conv2d has no setting "dilation"; its settings are filters, kernel, stride, padding, init'],
    [image({ type: 'maxpool2d', size: 2, padding: 1 }), 'maxpool2d has no setting "padding"; its settings are size, stride'],
    [image({ type: 'batchnorm', momentun: 0.01 }), 'batchnorm has no setting "momentun" (did you mean momentum?); its settings are momentum, eps'],
    [image({ type: 'relu', inplace: true }), 'relu has no setting "inplace"; it takes none'],
  ];
  for (const [spec, why] of cases) {
    assert.throws(() => buildModel(spec), { code: 'E_INVALID_MODEL_SPEC', message: `model spec layer 0 (${spec.layers[0]!.type}): ${why}` }, why);
  }
  const dense = { input: [4], classes: 2, layers: [{ type: 'dense', units: 2, activation: 'relu' }] } as unknown as ModelSpec;
  assert.throws(() => buildModel(dense), { code: 'E_INVALID_MODEL_SPEC', message: /layer 0 \(dense\): dense has no setting "activation"; its settings are units, init$/ });
  // inside a residual branch, and at the top of the spec
  const inner = { input: [4], classes: 4, layers: [{ type: 'residual', layers: [{ type: 'dense', units: 4, bias: false }] }] } as unknown as ModelSpec;
  assert.throws(() => buildModel(inner), { code: 'E_INVALID_MODEL_SPEC', message: /layer 0 \(residual\)\.0: dense has no setting "bias"/ });
  const top = { input: [4], classes: 2, layer: [], layers: [{ type: 'dense', units: 2 }] } as unknown as ModelSpec;
  assert.throws(() => buildModel(top), { code: 'E_INVALID_MODEL_SPEC', message: 'model spec layer: is not a model spec field (did you mean layers?); a spec has input, classes, layers' });
  // every documented setting still builds
  buildModel({ input: [1, 8, 8], classes: 2, layers: [
    { type: 'conv2d', filters: 2, kernel: 3, stride: 1, padding: 1, init: 'glorot' }, { type: 'batchnorm', momentum: 0.1, eps: 1e-5 },
    { type: 'maxpool2d', size: 2, stride: 2 }, { type: 'avgpool2d', size: 2, stride: 1 }, { type: 'flatten' }, { type: 'dropout', rate: 0.1 },
    { type: 'layernorm', eps: 1e-5 }, { type: 'dense', units: 2, init: 'he' },
  ] });
});

test('an optimizer, schedule or trainer option that does not exist is refused, never ignored', () => {
  const model = buildModel({ input: [4], classes: 2, layers: [{ type: 'dense', units: 2 }] }, { seed: 1 });
  const refused = (options: unknown, message: string) =>
    assert.throws(() => new Trainer(model, options as TrainerOptions), { code: 'E_INVALID_PARAMETER', message }, message);
  refused({ optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true } }, 'optimizer.nesterov: is not a setting of sgd; its settings are momentum, weightDecay');
  refused({ optimizer: { kind: 'adamw', weight_decay: 0.1 } }, 'optimizer.weight_decay: is not a setting of adamw (did you mean weightDecay?); its settings are beta1, beta2, eps, weightDecay');
  refused({ optimizer: { kind: 'sgd', beta1: 0.9 } }, 'optimizer.beta1: is not a setting of sgd; its settings are momentum, weightDecay');
  refused({ learningRate: 0.5 }, 'learningRate: is not a trainer option; the options are optimizer, lr, batchSize, device, threads, seed, schedule, stepsPerRun');
  refused({ batch_size: 8 }, 'batch_size: is not a trainer option (did you mean batchSize?); the options are optimizer, lr, batchSize, device, threads, seed, schedule, stepsPerRun');
  refused({ schedule: { kind: 'cosine', totalEpochs: 3, min_lr: 0 } }, 'schedule.min_lr: is not a setting of the cosine schedule (did you mean minLr?); its settings are totalEpochs, minLr');
  refused({ schedule: { kind: 'constant', gamma: 0.5 } }, 'schedule.gamma: is not a setting of the constant schedule');
});

test('values that would make the float32 step NaN or ascend are refused: eps, weight decay, minLr, gamma', () => {
  const model = buildModel({ input: [4], classes: 2, layers: [{ type: 'dense', units: 2 }] }, { seed: 1 });
  const refused = (optimizer: OptimizerConfig | undefined, schedule: LrSchedule | undefined, message: RegExp) =>
    assert.throws(() => new Trainer(model, { optimizer, schedule, lr: 0.01 }), { code: 'E_INVALID_PARAMETER', message }, String(message));
  for (const eps of [Number.NaN, -1e-8, Infinity]) refused({ kind: 'adam', eps }, undefined, new RegExp(`^eps: must be a finite number ≥ 0, got ${eps}$`));
  refused({ kind: 'sgd', weightDecay: Infinity }, undefined, /^weightDecay: must be a finite number ≥ 0, got Infinity$/);
  refused({ kind: 'adam', beta1: Number.NaN }, undefined, /^beta1: must be in \[0, 1\), got NaN$/);
  for (const minLr of [-0.5, Number.NaN, 0.02]) refused(undefined, { kind: 'cosine', totalEpochs: 2, minLr }, new RegExp(`^schedule.minLr: must be a finite number in \\[0, lr = 0.01\\], got ${minLr}$`));
  refused(undefined, { kind: 'step', everyEpochs: 1, gamma: Infinity }, /^schedule: step needs finite everyEpochs > 0 and gamma > 0, got 1 and Infinity$/);
  refused(undefined, { kind: 'step', everyEpochs: Infinity, gamma: 0.5 }, /got Infinity and 0.5$/);
  // the edges PyTorch allows still construct
  new Trainer(model, { optimizer: { kind: 'adam', eps: 0 }, schedule: { kind: 'cosine', totalEpochs: 2, minLr: 0.01 }, lr: 0.01 });
});

test('temperatures are checked as the float32 graph gets them: outside [1e-6, 1e6] is refused before any step', async () => {
  const t = new Trainer(buildModel({ input: [4], classes: 3, layers: [{ type: 'dense', units: 3 }] }, { seed: 1 }), { threads: 1, batchSize: 4 });
  const features = Float32Array.from({ length: 16 }, (_, i) => (i % 5) / 5);
  const softTargets = new Float32Array(12).fill(1 / 3);
  // each passed a "> 0 and finite" check on its double value, and gave NaN weights
  for (const T of [Float64Array.of(1e-50, 1, 1, 1), Float64Array.of(1e300, 1, 1, 1), Float32Array.of(1e20, 1, 1, 1), Float32Array.of(1e-40, 1, 1, 1)]) {
    await assert.rejects(t.distill({ features, softTargets, temperatures: T as unknown as Float32Array }, { epochs: 1 }), { code: 'E_INVALID_PARAMETER', message: /^temperature: must be in \[1e-6, 1e6\], got / }, String(T[0]));
  }
  await assert.rejects(t.distill({ features, softTargets, temperature: 2e6 }, { epochs: 1 }), { message: /temperature: must be in \[1e-6, 1e6\], got 2000000$/ });
  // a soft target finite as a double but infinite in float32 (logits given as Float64Array)
  const big = new Float64Array(12); big[5] = 1e300;
  await assert.rejects(t.distill({ features, softTargets: big as unknown as Float32Array, targetKind: 'logits' }, { epochs: 1 }), { code: 'E_SHAPE_MISMATCH', message: /soft target 1e\+300 at sample 1, class 2 is not a finite number/ });
  assert.equal(t.step, 0);
  await t.distill({ features, softTargets, temperatures: Float32Array.of(1e-6, 1e6, 1, 3) }, { epochs: 1 });
  assert.ok(t.getWeights().every((w) => w.every(Number.isFinite)));
  await t.release();
});

test("{kind: 'adamw'} decays weights by 0.01 as 'adamw' and PyTorch's AdamW do; it used to train exactly as Adam", async () => {
  const rng = new SeededRng(3);
  const data = { features: Float32Array.from({ length: 32 * 4 }, () => rng.normal()), labels: Array.from({ length: 32 }, () => rng.int(2)) };
  const weightsAfter = async (optimizer: TrainerOptions['optimizer']) => {
    const t = new Trainer(buildModel({ input: [4], classes: 2, layers: [{ type: 'dense', units: 2 }] }, { seed: 1 }), { optimizer, lr: 0.1, batchSize: 8, threads: 1 });
    await t.fit(data, { epochs: 2, shuffle: false });
    const w = t.getWeights();
    await t.release();
    return { w, normalised: t.optimizer };
  };
  const object = await weightsAfter({ kind: 'adamw' });
  assert.deepEqual(object.normalised, { kind: 'adamw', weightDecay: 0.01 });
  assert.deepEqual(object.w, (await weightsAfter('adamw')).w);
  const adam = await weightsAfter({ kind: 'adam' });
  assert.ok(Math.max(...object.w[0]!.map((v, i) => Math.abs(v - adam.w[0]![i]!))) > 1e-4, 'decay makes AdamW differ from Adam');
  assert.deepEqual((await weightsAfter({ kind: 'adamw', weightDecay: 0 })).w, adam.w, 'an explicit 0 is still Adam');
});

test('a batch of one value per channel leaves batchnorm running statistics as they were (it has no variance to learn from)', async () => {
  const rng = new SeededRng(21);
  const features = Float32Array.from({ length: 9 * 4 }, () => rng.normal() * 3 + 1);
  const labels = Array.from({ length: 9 }, () => rng.int(2));
  const spec: ModelSpec = { input: [4], classes: 2, layers: [{ type: 'dense', units: 3 }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'dense', units: 2 }] };
  const runningStats = async (n: number, batchSize: number) => {
    const t = new Trainer(buildModel(spec, { seed: 1 }), { optimizer: 'sgd', lr: 0.05, batchSize, threads: 1, stepsPerRun: 1 });
    await t.fit({ features: features.subarray(0, n * 4), labels: labels.slice(0, n) }, { epochs: 1, shuffle: false });
    const stats = t.model.buffers.map((b) => [...b]);
    await t.release();
    return { stats, steps: t.step };
  };
  const eight = await runningStats(8, 8);
  const nine = await runningStats(9, 8); // a last batch of one sample: it used to scale the running variance by 0.9
  assert.equal(nine.steps, 2);
  assert.deepEqual(nine.stats, eight.stats);
  const one = await runningStats(1, 1);
  assert.deepEqual(one.stats, [[0, 0, 0], [1, 1, 1]]);
  // two samples do move them (the unbiased variance of two values)
  const two = await runningStats(2, 2);
  assert.notDeepEqual(two.stats, one.stats);
});

test("a checkpoint written with {kind: 'adamw'} before it meant decay 0.01 resumes with weightDecay 0, and says so when asked for 0.01", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-adamw-ckpt-'));
  try {
    const spec: ModelSpec = { input: [4], classes: 2, layers: [{ type: 'dense', units: 2 }] };
    const path = join(dir, 'old.ckpt');
    await saveCheckpoint(new Trainer(buildModel(spec, { seed: 1 }), { optimizer: { kind: 'adamw', weightDecay: 0 }, threads: 1 }), path);
    // the header as the earlier version wrote it: optimizer {"kind":"adamw"}, which trained with no decay
    const buf = readFileSync(path);
    const at = buf.indexOf('{'.charCodeAt(0)) - 4;
    const len = buf.readUInt32LE(at);
    const header = JSON.parse(buf.subarray(at + 4, at + 4 + len).toString());
    header.optimizer = { kind: 'adamw' };
    const json = Buffer.from(JSON.stringify(header));
    const size = Buffer.alloc(4); size.writeUInt32LE(json.length);
    writeFileSync(path, Buffer.concat([buf.subarray(0, at), size, json, buf.subarray(at + 4 + len)]));
    assert.deepEqual(await loadCheckpoint(new Trainer(buildModel(spec, { seed: 1 }), { optimizer: { kind: 'adamw', weightDecay: 0 }, threads: 1 }), path), []);
    await assert.rejects(loadCheckpoint(new Trainer(buildModel(spec, { seed: 1 }), { optimizer: { kind: 'adamw' }, threads: 1 }), path),
      { code: 'E_CHECKPOINT_MISMATCH', message: /was written with optimizer \{"kind":"adamw","weightDecay":0\}, not \{"kind":"adamw","weightDecay":0\.01\}/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a distillation input or fit option that does not exist, or a target kind other than probs/logits, is refused before any step', async () => {
  const model = buildModel({ input: [4], classes: 2, layers: [{ type: 'dense', units: 2 }] }, { seed: 1 });
  const t = new Trainer(model, { threads: 1 });
  const features = Float32Array.from({ length: 8 }, (_, i) => i / 8);
  const softTargets = Float32Array.from([0.9, 0.1, 0.2, 0.8]);
  const refused = async (data: unknown, fit: unknown, message: string) =>
    assert.rejects(t.distill(data as never, fit as never), { code: 'E_INVALID_PARAMETER', message }, message);
  // 'logit' was read as probabilities: teacher logits trained the wrong loss, without a word
  await refused({ features, softTargets, targetKind: 'logit' }, { epochs: 1 }, 'targetKind: must be \'probs\' or \'logits\', got "logit"');
  await refused({ features, softTargets, temperture: 4 }, { epochs: 1 },
    'temperture: is not a distillation input (did you mean temperature?); the inputs are features, softTargets, targetKind, temperatures, temperature, alpha, hardLabels, softLoss');
  await refused({ features, softTargets }, { epochs: 1, progresEvery: 2 },
    'progresEvery: is not a fit option (did you mean progressEvery?); the options are epochs, onProgress, progressEvery, shuffle, shouldStop, checkpoint');
  await assert.rejects(t.fit({ features, labels: [0, 1] }, { epoch: 1 } as never), { code: 'E_INVALID_PARAMETER', message: /^epoch: is not a fit option \(did you mean epochs\?\)/ });
  assert.deepEqual([t.step, t.epoch], [0, 0], 'nothing trained');
  // the documented inputs still train
  await t.distill({ features, softTargets, targetKind: 'probs', temperature: 2, alpha: 0.5, hardLabels: [0, 1], softLoss: 'kl' }, { epochs: 1, shuffle: false });
  await t.distill({ features, softTargets, targetKind: 'logits', temperatures: Float32Array.from([1, 3]) }, { epochs: 1 });
  assert.equal(t.epoch, 2);
  await t.release();
});
