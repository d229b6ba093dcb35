// Model specs the PATE-MNIST reproduction uses for teachers and the student, by name.
import type { ModelSpec } from '../../shared/ml/index.ts';
import { check } from '../../shared/util/errors.ts';

/**
 * `cnn-small`: conv5×5(16)-pool-conv5×5(32)-pool-dense64, ~47k parameters: about 4 s for 30
 * epochs on a 240-sample shard (one idle CPU thread), so 250 teachers stay affordable; ~89–92% on
 * MNIST from 240 samples; 93.8% mean over 250 teachers with the affine augmentation (40 epochs).
 * `cnn-small-dropout`: the same with dropout 0.4 before the dense layer (the student: with strong
 * augmentation it learns 93–94% from ~375 PATE labels, against 92% without).
 * `cnn` / `mlp`: the engine's reference models (docs/training.md). `mlp-small` (784-64-10) is
 * for fast tests only.
 */
export const PATE_MODEL_NAMES = ['cnn-small', 'cnn-small-dropout', 'cnn', 'mlp', 'mlp-small'] as const;
export type PateModelName = (typeof PATE_MODEL_NAMES)[number];

/** The spec (or reference name) for `name`. */
export function pateModelSpec(name: PateModelName): ModelSpec | 'cnn' | 'mlp' {
  check(PATE_MODEL_NAMES.includes(name), 'model', `must be one of ${PATE_MODEL_NAMES.join(', ')}, got "${name}"`, 'E_SCENARIO_INVALID');
  if (name === 'cnn' || name === 'mlp') return name;
  if (name === 'mlp-small') {
    return { input: [1, 28, 28], classes: 10, layers: [{ type: 'flatten' }, { type: 'dense', units: 64 }, { type: 'relu' }, { type: 'dense', units: 10 }] };
  }
  return {
    input: [1, 28, 28], classes: 10, layers: [
      { type: 'conv2d', filters: 16, kernel: 5 }, { type: 'relu' }, { type: 'maxpool2d', size: 2 },
      { type: 'conv2d', filters: 32, kernel: 5 }, { type: 'relu' }, { type: 'maxpool2d', size: 2 },
      { type: 'flatten' }, ...(name === 'cnn-small-dropout' ? [{ type: 'dropout', rate: 0.4 } as const] : []),
      { type: 'dense', units: 64 }, { type: 'relu' }, { type: 'dense', units: 10 },
    ],
  };
}
