// Child process for webgpu.test.ts: trains one small model on a device and prints losses, accuracy and weights as JSON.
// The WebGPU context is configured once per process, so each device runs in its own process.
import { SeededRng } from '../../../shared/util/prng.ts';
import { Trainer, buildModel, type DeviceRequest, type ModelSpec } from '../../../shared/ml/index.ts';

const device = (process.argv[2] ?? 'cpu') as DeviceRequest;
// 'conv': a small cnn (conv, relu, tiling max pool on an odd size, so its gradient crops and pads).
const conv = process.argv[3] === 'conv';
// Steps per session.run (default 1 here, so the CPU and webgpu run the same single steps).
const stepsPerRun = Number(process.argv[4] ?? 1);
const spec: ModelSpec = conv
  ? { input: [1, 4, 4], classes: 4, layers: [{ type: 'conv2d', filters: 3, kernel: 2 }, { type: 'relu' }, { type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 4 }] }
  : { input: [16], classes: 4, layers: [{ type: 'dense', units: 32 }, { type: 'relu' }, { type: 'dropout', rate: 0.1 }, { type: 'batchnorm' }, { type: 'dense', units: 4 }] };
const rng = new SeededRng(7);
const n = 200;
const features = Float32Array.from({ length: n * 16 }, () => rng.normal());
const labels = Uint8Array.from({ length: n }, (_, i) => (features[i * 16]! > 0 ? 1 : 0) + (features[i * 16 + 1]! > 0 ? 2 : 0));
const soft = Float32Array.from({ length: n * 4 }, () => rng.normal());

const t = new Trainer(buildModel(spec, { seed: 3 }), { optimizer: 'adam', batchSize: 48, threads: 1, device, seed: 5, stepsPerRun });
const progress: number[] = [];
// 200 rows in batches of 48: the last batch is partial (8 rows), which the loss sums must weight.
const onProgress = (p: { loss: number }) => progress.push(p.loss);
// 'pause': stopped after the second step of the first epoch, then resumed, with the state brought
// to host memory every two steps (as for mid-epoch checkpoints): the same steps as one straight fit.
const fit = process.argv[5] === 'pause'
  ? [...await (async () => { let runs = 0; return t.fit({ features, labels }, { epochs: 2, progressEvery: 2, onProgress, shouldStop: () => ++runs === 2 }); })(),
    ...await t.fit({ features, labels }, { epochs: 2, progressEvery: 2, onProgress, checkpoint: { every: 2, save: async () => {} } })]
  : await t.fit({ features, labels }, { epochs: 2, progressEvery: 2, onProgress });
const distill = await t.distill({ features, softTargets: soft, targetKind: 'logits', temperature: 2, alpha: 0.3, hardLabels: labels }, { epochs: 1 });
const probs = (await t.predict(features.subarray(0, 8 * 16))).probs;
console.log(JSON.stringify({
  device: await t.resolvedDevice(),
  epochs: [...fit, ...distill].map((e) => ({ loss: e.loss, accuracy: e.accuracy })),
  progress,
  weights: t.getWeights().map((w) => Array.from(w)),
  probs: Array.from(probs),
}));
