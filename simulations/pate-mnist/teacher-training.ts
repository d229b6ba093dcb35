// Trains PATE teachers on their disjoint shards and records each teacher's predicted class on the queries.
import { buildModel, Trainer } from '../../shared/ml/index.ts';
import { loadDataset } from '../../shared/data/catalog.ts';
import { subset } from '../../shared/data/image-dataset.ts';
import { iidPartition } from '../../shared/data/partition.ts';
import { SeededRng, seedFromString } from '../../shared/util/prng.ts';
import { randomAffine } from './augment.ts';
import type { TrainingConfig } from './config.ts';
import { type PateModelName, pateModelSpec } from './models.ts';

/** The teachers' augmentation when `local.augment` is on (the student's default warp). */
const TEACHER_AUGMENTATION = { maxShift: 2, maxRotationDeg: 12, maxScale: 0.1 } as const;

/** What a teacher-training job needs: plain data, so it can cross a worker boundary. */
export interface TeacherJob {
  teacherSet: string;
  publicSet: string;
  evalSet: string;
  teachers: number;
  seed: number;
  model: PateModelName;
  local: TrainingConfig;
  /** Indices into the public set that the teachers vote on. */
  queryIndices: number[];
  /** Which teachers this job trains (indices into the partition). */
  which: number[];
}

/** One trained teacher: its predicted class per query, and its accuracy on the evaluation set. */
export interface TeacherOutcome { teacher: number; predictions: Uint8Array; evalAccuracy: number; shardSize: number }

/** The seeded IID split of the teacher set into disjoint shards (one per teacher). */
function teacherShards(labels: Uint8Array, teachers: number, seed: number): Uint32Array[] {
  return iidPartition({ labels, numClasses: 10, clients: teachers, seed }).clients.map((c) => c.indices);
}

function argmaxRows(logits: Float32Array, classes: number, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  for (let i = from; i < to; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
    out[i - from] = best;
  }
  return out;
}

/**
 * Trains the job's teachers one after another, reusing one Trainer (weights and optimizer state
 * are reset per teacher, so its graphs and sessions are built once), single-threaded so that
 * several jobs can run side by side. Each teacher then labels the queries and the eval set.
 */
export async function trainTeachers(job: TeacherJob, onTeacher: (o: TeacherOutcome) => void): Promise<void> {
  const train = loadDataset(job.teacherSet);
  const pub = loadDataset(job.publicSet);
  const ev = loadDataset(job.evalSet);
  const shards = teacherShards(train.labels, job.teachers, job.seed);
  const queries = subset(pub, job.queryIndices);
  const probe = new Float32Array(queries.features.length + ev.features.length);
  probe.set(queries.features);
  probe.set(ev.features, queries.features.length);
  const spec = pateModelSpec(job.model);
  let trainer: Trainer | undefined;
  for (const t of job.which) {
    const initSeed = seedFromString(`pate-mnist/teacher/${job.seed}/${t}`);
    const model = buildModel(spec, { seed: initSeed });
    if (!trainer) {
      trainer = new Trainer(model, { optimizer: job.local.optimizer, lr: job.local.lr, batchSize: job.local.batch, threads: 1, seed: initSeed });
    } else {
      trainer.setWeights(model.weights, true);
      trainer.step = 0;
      trainer.epoch = 0;
    }
    const shard = subset(train, shards[t]!);
    if (!job.local.augment) await trainer.fit(shard, { epochs: job.local.epochs });
    else {
      // A new random warp of the shard every epoch: teachers that generalize better and err less alike.
      const rng = new SeededRng(`pate-mnist/teacher/${job.seed}/${t}/augment`);
      for (let e = 0; e < job.local.epochs; e++) {
        await trainer.fit({ features: randomAffine(shard.features, 28, TEACHER_AUGMENTATION, rng), labels: shard.labels }, { epochs: 1 });
      }
    }
    const { logits, classes } = await trainer.predict(probe);
    const nq = queries.length;
    const evalPred = argmaxRows(logits, classes, nq, nq + ev.length);
    let correct = 0;
    for (let i = 0; i < ev.length; i++) if (evalPred[i] === ev.labels[i]) correct++;
    onTeacher({ teacher: t, predictions: argmaxRows(logits, classes, 0, nq), evalAccuracy: correct / ev.length, shardSize: shards[t]!.length });
  }
}
