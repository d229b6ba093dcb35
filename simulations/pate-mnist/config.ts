// The PATE-MNIST scenario (kind: pate-reproduction): its YAML fields, defaults and validation.
import { availableParallelism } from 'node:os';
import { type Obj, booleanAt, mapping, numberAt, onlyKeys, stringAt } from '../../shared/util/scenario-fields.ts';
import { check } from '../../shared/util/errors.ts';
import { type PateModelName, PATE_MODEL_NAMES } from './models.ts';

const CODE = 'E_SCENARIO_INVALID';

export interface TrainingConfig {
  epochs: number; batch: number; lr: number; optimizer: 'sgd' | 'adam' | 'adamw';
  /** Teachers only: a new random affine warp of the shard every epoch. */
  augment?: boolean;
}

export interface StudentConfig extends TrainingConfig {
  model: PateModelName;
  /** Fractions of the unlabeled public set pseudo-labelled in each self-training generation. */
  generations: number[];
  /** Continue training the previous generation's model (true) or start each generation fresh (false). */
  warmStart: boolean;
  /** Epochs over (labels + pseudo-labels) per generation. */
  generationEpochs: number;
  /** Minimum number of gradient steps per generation (small pools are revisited more). */
  minStepsPerGeneration: number;
  /** Augmentation: largest random translation (pixels), rotation (degrees) and relative scale change. */
  shift: number;
  rotation: number;
  scale: number;
  /** Augmented copies averaged with the image when pseudo-labelling (test-time augmentation). */
  views: number;
  threads: number;
}

/** Everything a PATE-MNIST run needs; snake_case in YAML, camelCase here. */
export interface PateMnistConfig {
  name: string;
  seed: number;
  data: { teacherSet: string; publicSet: string; evalSet: string };
  teachers: { count: number; model: PateModelName; local: TrainingConfig; workers: number };
  aggregation: { queries: number; querySelection: 'first' | 'seeded'; threshold: number; sigma1: number; sigma2: number };
  privacy: { delta: number; orders: 'pate2018' | 'dp-accounting'; conversion: 'classic' | 'improved' };
  student: StudentConfig;
}

/** The reproduction's self-training schedule: shares 0.2 … 0.9, then ten generations on the whole public set. */
const REPRODUCTION_GENERATIONS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, ...Array<number>(10).fill(1)];

const TOP = ['name', 'kind', 'description', 'seed', 'data', 'sites', 'strategy', 'privacy'];

function training(o: Obj, field: string, d: TrainingConfig): TrainingConfig {
  return {
    epochs: numberAt(o, 'epochs', field, d.epochs, { int: true, min: 1 }),
    batch: numberAt(o, 'batch', field, d.batch, { int: true, min: 1 }),
    lr: numberAt(o, 'lr', field, d.lr, { min: 0, exclusiveMin: true }),
    optimizer: stringAt(o, 'optimizer', field, d.optimizer, ['sgd', 'adam', 'adamw'] as const),
  };
}

/**
 * Validates a `kind: pate-reproduction` scenario mapping (as parsed from YAML) and fills the
 * defaults, which are the full reproduction's settings; errors name the field (E_SCENARIO_INVALID).
 */
export function parsePateMnistScenario(raw: Record<string, unknown>): PateMnistConfig {
  const o = mapping(raw, 'scenario');
  onlyKeys(o, TOP, 'scenario');
  const kind = stringAt(o, 'kind', 'scenario', 'pate-reproduction');
  check(kind === 'pate-reproduction', 'scenario.kind', `must be pate-reproduction for this runner, got "${kind}"`, CODE);
  const d = mapping(o.data, 'data', true);
  onlyKeys(d, ['teacher_set', 'public_set', 'eval_set'], 'data');
  const s = mapping(o.sites, 'sites', true);
  onlyKeys(s, ['count', 'model', 'local', 'workers'], 'sites');
  const local = mapping(s.local, 'sites.local', true);
  onlyKeys(local, ['epochs', 'batch', 'lr', 'optimizer', 'augment'], 'sites.local');
  const st = mapping(o.strategy, 'strategy', true);
  onlyKeys(st, ['name', 'queries', 'query_selection', 'threshold', 'sigma1', 'sigma2', 'student'], 'strategy');
  stringAt(st, 'name', 'strategy', 'confident-gnmax', ['confident-gnmax'] as const);
  const stu = mapping(st.student, 'strategy.student', true);
  onlyKeys(stu, ['model', 'epochs', 'batch', 'lr', 'optimizer', 'generations', 'generation_epochs', 'min_steps_per_generation', 'warm_start', 'shift', 'rotation', 'scale', 'views', 'threads'], 'strategy.student');
  const pr = mapping(o.privacy, 'privacy', true);
  onlyKeys(pr, ['unit', 'delta', 'orders', 'conversion'], 'privacy');
  stringAt(pr, 'unit', 'privacy', 'example', ['example'] as const);

  const gens = stu.generations ?? REPRODUCTION_GENERATIONS;
  check(Array.isArray(gens) && gens.every((g) => typeof g === 'number' && g > 0 && g <= 1), 'strategy.student.generations',
    `must be a list of fractions in (0, 1], got ${JSON.stringify(gens)}`, CODE);
  const cores = availableParallelism();
  return {
    name: stringAt(o, 'name', 'scenario', 'pate-mnist'),
    seed: numberAt(o, 'seed', 'scenario', 1, { int: true, min: 0 }),
    data: {
      teacherSet: stringAt(d, 'teacher_set', 'data', 'mnist:train'),
      publicSet: stringAt(d, 'public_set', 'data', 'mnist:test[0:9000]'),
      evalSet: stringAt(d, 'eval_set', 'data', 'mnist:test[9000:10000]'),
    },
    teachers: {
      count: numberAt(s, 'count', 'sites', 250, { int: true, min: 2 }),
      model: stringAt(s, 'model', 'sites', 'cnn-small', PATE_MODEL_NAMES),
      // `augment` appears only when on, so that it is part of the votes-cache key only then.
      local: { ...training(local, 'sites.local', { epochs: 40, batch: 32, lr: 1e-3, optimizer: 'adam' }), ...(booleanAt(local, 'augment', 'sites.local', true) ? { augment: true } : {}) },
      workers: numberAt(s, 'workers', 'sites', Math.max(1, Math.min(16, cores)), { int: true, min: 1, max: 64 }),
    },
    aggregation: {
      queries: numberAt(st, 'queries', 'strategy', 640, { int: true, min: 1 }),
      querySelection: stringAt(st, 'query_selection', 'strategy', 'first', ['first', 'seeded'] as const),
      threshold: numberAt(st, 'threshold', 'strategy', 200),
      sigma1: numberAt(st, 'sigma1', 'strategy', 150, { min: 0, exclusiveMin: true }),
      sigma2: numberAt(st, 'sigma2', 'strategy', 40, { min: 0, exclusiveMin: true }),
    },
    privacy: {
      delta: numberAt(pr, 'delta', 'privacy', 1e-5, { min: 0, exclusiveMin: true, max: 0.1 }),
      orders: stringAt(pr, 'orders', 'privacy', 'pate2018', ['pate2018', 'dp-accounting'] as const),
      conversion: stringAt(pr, 'conversion', 'privacy', 'classic', ['classic', 'improved'] as const),
    },
    student: {
      model: stringAt(stu, 'model', 'strategy.student', 'cnn-small-dropout', PATE_MODEL_NAMES),
      ...training(stu, 'strategy.student', { epochs: 150, batch: 32, lr: 1e-3, optimizer: 'adam' }),
      generations: gens as number[],
      warmStart: booleanAt(stu, 'warm_start', 'strategy.student', true),
      generationEpochs: numberAt(stu, 'generation_epochs', 'strategy.student', 1, { int: true, min: 1 }),
      minStepsPerGeneration: numberAt(stu, 'min_steps_per_generation', 'strategy.student', 0, { int: true, min: 0 }),
      shift: numberAt(stu, 'shift', 'strategy.student', 3, { min: 0, max: 6 }),
      rotation: numberAt(stu, 'rotation', 'strategy.student', 18, { min: 0, max: 45 }),
      scale: numberAt(stu, 'scale', 'strategy.student', 0.15, { min: 0, max: 0.5 }),
      views: numberAt(stu, 'views', 'strategy.student', 2, { int: true, min: 0, max: 32 }),
      threads: numberAt(stu, 'threads', 'strategy.student', Math.max(1, Math.min(8, cores)), { int: true, min: 1 }),
    },
  };
}
