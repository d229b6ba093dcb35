// Model plumbing shared by the attack runs: MLP specs, seeded trainers, per-sample scores.
import { Trainer, buildModel, type ModelSpec } from '../../ml/index.ts';
import { seedFromString } from '../../util/prng.ts';
import type { TrainSettings } from './attack-scenario.ts';

/** flatten → (dense, relu)* → dense(classes). */
export function mlpSpec(hidden: readonly number[], input: readonly number[], classes: number): ModelSpec {
  return {
    input: [...input],
    classes,
    layers: [{ type: 'flatten' }, ...hidden.flatMap((units) => [{ type: 'dense' as const, units }, { type: 'relu' as const }]), { type: 'dense', units: classes }],
  };
}

/** A fresh model and Adam trainer; `seed` fixes the init and the shuffling, so runs that share it differ only in their data. */
export function seededTrainer(spec: ModelSpec, t: TrainSettings, seed: string, threads: number): Trainer {
  return new Trainer(buildModel(spec, { seed }), { optimizer: 'adam', lr: t.lr, batchSize: t.batch, seed: seedFromString(seed), threads });
}

/** log p(label | x) per sample: the (negated) loss a loss-threshold attack scores. */
export async function labelLogProbs(trainer: Trainer, features: Float32Array, labels: ArrayLike<number>): Promise<Float64Array> {
  const { probs, classes } = await trainer.predict(features);
  const out = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) out[i] = Math.log(Math.max(1e-30, probs[i * classes + labels[i]!]!));
  return out;
}

/** Row-wise log-probabilities of the model's predictions. */
export async function logProbRows(trainer: Trainer, features: Float32Array): Promise<{ logProbs: Float64Array; classes: number }> {
  const { probs, classes } = await trainer.predict(features);
  return { logProbs: Float64Array.from(probs, (p) => Math.log(Math.max(1e-30, p))), classes };
}
