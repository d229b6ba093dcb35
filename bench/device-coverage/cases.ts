// The models, losses and optimizers that bench/device-coverage.ts (and webgpu-coverage.test.ts) trains on the CPU and on a GPU, and their tiny data sets.
import { SeededRng } from '../../shared/util/prng.ts';
import type { DistillData, LayerSpec, ModelSpec, TrainerOptions } from '../../shared/ml/index.ts';

/** One distillation after the fit: the trainer's `distill` options beyond the data. */
export type DistillRun = Pick<DistillData, 'softLoss' | 'targetKind' | 'alpha'> & {
  /** One temperature per sample (swing distillation) rather than one for all. */
  perSampleT?: boolean;
};

/** One case: a model, its trainer options, epochs of cross-entropy, then distillations in turn. */
export interface CoverageCase {
  spec: ModelSpec;
  options?: TrainerOptions;
  fitEpochs: number;
  distill?: DistillRun[];
}

const dense = (layers: LayerSpec[]): ModelSpec => ({ input: [12], classes: 4, layers: [{ type: 'dense', units: 16 }, ...layers, { type: 'dense', units: 4 }] });

/**
 * Every layer, loss and optimizer of the engine, a few to a model, each model trained a few steps.
 * A GPU compiles every kernel of a new session on its first run (seconds each on SwiftShader), so
 * layers share models; to find which layer of a case differs, add a case with one layer and run it alone (--cases).
 */
export const CASES: Record<string, CoverageCase> = {
  // Adam. Dropout masks per step; batchnorm in eval mode afterwards, on its running statistics.
  'dense-layers': {
    spec: dense([{ type: 'layernorm' }, { type: 'gelu' }, { type: 'residual', layers: [{ type: 'dense', units: 16 }, { type: 'tanh' }, { type: 'dense', units: 16 }] },
      { type: 'dropout', rate: 0.3 }, { type: 'relu' }, { type: 'batchnorm', momentum: 0.3 }]),
    fitEpochs: 2,
  },
  // SGD with momentum and weight decay. A strided, padded conv, then conv-batchnorm-ReLU: that conv's
  // bias has no gradient but rounding noise, which Adam would scale up to steps of about lr (a
  // different walk on each device, while the function stays the same); SGD leaves it in place.
  'conv-layers': {
    spec: {
      input: [2, 7, 7], classes: 4, layers: [
        { type: 'conv2d', filters: 3, kernel: 3, stride: 2, padding: 1 }, { type: 'batchnorm' }, { type: 'relu' }, // 4×4
        { type: 'residual', layers: [{ type: 'conv2d', filters: 3, kernel: 3, padding: 1 }, { type: 'tanh' }] },
        { type: 'maxpool2d', size: 3, stride: 1 }, // overlapping windows: 2×2
        { type: 'globalavgpool' }, { type: 'dense', units: 4 },
      ],
    },
    options: { optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 1e-3 }, lr: 0.05 },
    fitEpochs: 2,
  },
  // avgpool2d, then a max pool whose windows leave gaps (stride 3 > size 2).
  pools: {
    spec: { input: [2, 6, 6], classes: 4, layers: [{ type: 'conv2d', filters: 3, kernel: 3, padding: 1 }, { type: 'relu' }, { type: 'avgpool2d', size: 2 }, { type: 'maxpool2d', size: 2, stride: 3 }, { type: 'flatten' }, { type: 'dense', units: 4 }] },
    fitEpochs: 2,
  },
  // AdamW; token ids, mean-pooled embeddings, repeated ids adding their gradients.
  embedding: {
    spec: { input: [6], classes: 4, layers: [{ type: 'embedding', vocab: 10, dim: 8 }, { type: 'dense', units: 8 }, { type: 'tanh' }, { type: 'dense', units: 4 }] },
    options: { optimizer: { kind: 'adamw', weightDecay: 0.05 }, lr: 3e-3 },
    fitEpochs: 2,
  },
  // Every distillation loss in turn on one student (Adam): KL on probabilities and on teacher
  // logits with a per-sample temperature, the hard/soft mix, MSE and MAE on logits.
  losses: {
    spec: dense([{ type: 'relu' }]),
    fitEpochs: 1,
    distill: [
      { softLoss: 'kl', targetKind: 'probs', perSampleT: true },
      { softLoss: 'kl', targetKind: 'logits', perSampleT: true },
      { softLoss: 'kl', targetKind: 'logits', perSampleT: true, alpha: 0.3 },
      { softLoss: 'mse', targetKind: 'logits' },
      { softLoss: 'mae', targetKind: 'logits', alpha: 0.2 },
    ],
  },
  // Two steps per run: unrolled on webgpu, an ONNX Loop on the CPU; masks, buffers and Adam's t per step.
  'two-steps-per-run': {
    spec: dense([{ type: 'relu' }, { type: 'batchnorm' }, { type: 'dropout', rate: 0.2 }]),
    options: { stepsPerRun: 2 },
    fitEpochs: 2,
  },
};

/** Tiny data for a spec: features (token ids for an embedding), labels that depend on them, teacher logits and probabilities, temperatures. */
export function coverageData(spec: ModelSpec, n: number) {
  const rng = new SeededRng(11);
  const width = spec.input.reduce((a, b) => a * b, 1);
  const first = spec.layers[0]!;
  const vocab = first.type === 'embedding' ? first.vocab : undefined;
  const features = Float32Array.from({ length: n * width }, () => (vocab ? rng.int(vocab) : rng.normal()));
  const labels = Uint8Array.from({ length: n }, (_, i) => vocab
    ? (features[i * width]! + features[i * width + 1]!) % 4
    : (features[i * width]! > 0 ? 1 : 0) + (features[i * width + 1]! > 0 ? 2 : 0));
  const logits = Float32Array.from({ length: n * 4 }, () => 2 * rng.normal());
  const probs = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const e = Array.from(logits.subarray(i * 4, i * 4 + 4), Math.exp);
    const s = e.reduce((a, b) => a + b, 0);
    probs.set(e.map((v) => v / s), i * 4);
  }
  const temperatures = Float32Array.from({ length: n }, () => 0.5 + 3 * rng.next());
  return { features, labels, logits, probs, temperatures };
}
