// The student: trained on the answered queries' PATE labels, then self-trained on the unlabeled public set with augmentation.
import { performance } from 'node:perf_hooks';
import { buildModel, Trainer } from '../../shared/ml/index.ts';
import type { Dataset } from '../../shared/data/types.ts';
import { gatherRows } from '../../shared/ml/train-data.ts';
import { SeededRng, seedFromString } from '../../shared/util/prng.ts';
import { check } from '../../shared/util/errors.ts';
import type { StudentConfig } from './config.ts';
import { pateModelSpec } from './models.ts';
import { randomAffine } from './augment.ts';

/** One self-training generation, for the report. */
export interface GenerationReport {
  generation: number;
  /** Labelled samples (PATE answers) and pseudo-labelled public samples trained on. */
  labeled: number;
  pseudo_labeled: number;
  /** Eval accuracy of this generation's model (reported, never used to choose anything). */
  eval_accuracy: number;
  /**
   * Share of pseudo-labels that match the public set's true labels. Measured for the report
   * only: the true labels never reach the student or any choice it makes.
   */
  diagnostic_pseudo_label_accuracy: number | null;
  seconds: number;
}

export interface StudentOutcome { accuracy: number; labeled: number; generations: GenerationReport[]; seconds: number }

export interface StudentInput {
  /** The whole public set (its labels are read only for the diagnostic above). */
  publicSet: Dataset;
  /** Public-set indices of the answered queries and their PATE labels. */
  labeledIndices: number[];
  labels: number[];
  evalSet: Dataset;
  seed: number;
}

/** Rows `idx` of a row-major matrix of `width`-wide rows, in a new array. */
const pickRows = (src: Float32Array, width: number, idx: ArrayLike<number>): Float32Array => gatherRows(src, width, idx, new Float32Array(idx.length * width));

/**
 * Pseudo-labels: for each predicted class, the most confident `fraction` of the unlabeled samples
 * predicted as that class (so no class is starved when the model is unsure of it).
 */
export function confidentPseudoLabels(probs: Float32Array, classes: number, fraction: number): { rows: number[]; labels: number[] } {
  const n = probs.length / classes;
  const byClass: { row: number; p: number }[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c]! > probs[i * classes + best]!) best = c;
    byClass[best]!.push({ row: i, p: probs[i * classes + best]! });
  }
  const rows: number[] = [];
  const labels: number[] = [];
  byClass.forEach((list, c) => {
    list.sort((a, b) => b.p - a.p || a.row - b.row);
    for (const e of list.slice(0, Math.ceil(fraction * list.length))) { rows.push(e.row); labels.push(c); }
  });
  return { rows, labels };
}

/**
 * Class probabilities averaged over the image and `cfg.views` augmented copies of it (test-time
 * augmentation): pseudo-labels that survive small warps are more often right.
 */
async function viewAveragedProbs(trainer: Trainer, features: Float32Array, side: number, cfg: StudentConfig, rng: SeededRng): Promise<Float32Array> {
  const sum = Float32Array.from((await trainer.predict(features)).probs);
  for (let v = 0; v < cfg.views; v++) {
    const warped = randomAffine(features, side, { maxShift: cfg.shift, maxRotationDeg: cfg.rotation, maxScale: cfg.scale }, rng);
    const { probs } = await trainer.predict(warped);
    for (let i = 0; i < sum.length; i++) sum[i] += probs[i]!;
  }
  for (let i = 0; i < sum.length; i++) sum[i] /= cfg.views + 1;
  return sum;
}

/**
 * Trains the student: generation 0 on the PATE labels alone, then one generation per entry of
 * `generations`, trained on the labels plus the most confident share of the (view-averaged,
 * temporally ensembled) predictions on the rest of the public set: continuing the previous
 * weights at a decaying rate (`warmStart`) or from a fresh model. Every epoch sees new random
 * warps. Only answered queries' PATE labels are used as labels; nothing from the eval set.
 */
export async function trainStudent(input: StudentInput, cfg: StudentConfig, log: (line: string) => void): Promise<StudentOutcome> {
  const t0 = performance.now();
  const { publicSet: pub, evalSet: ev } = input;
  check(input.labeledIndices.length > 0, 'student', 'no query was answered, so the student has no labels; lower the threshold or ask more queries');
  const side = pub.shape[pub.shape.length - 1]!;
  const width = pub.features.length / pub.length;
  const labeledSet = new Set(input.labeledIndices);
  const unlabeled = Array.from({ length: pub.length }, (_, i) => i).filter((i) => !labeledSet.has(i));
  const unlabeledFeatures = pickRows(pub.features, width, unlabeled);
  const labeledFeatures = pickRows(pub.features, width, input.labeledIndices);
  const augRng = new SeededRng(`pate-mnist/student/${input.seed}/augment`);
  const spec = pateModelSpec(cfg.model);
  const reports: GenerationReport[] = [];

  const trainGeneration = async (g: number, features: Float32Array, labels: Uint8Array, epochs: number, previous?: Trainer): Promise<Trainer> => {
    let trainer = previous;
    if (trainer) {
      // Warm generations continue the previous trainer (weights, Adam moments and step count) at a
      // cosine-decayed rate: no restart of the optimizer, and no graphs rebuilt per generation.
      trainer.setLearningRate(cfg.lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * (g - 1)) / cfg.generations.length))));
    } else {
      const seed = seedFromString(`pate-mnist/student/${input.seed}/${g}`);
      trainer = new Trainer(buildModel(spec, { seed }), { optimizer: cfg.optimizer, lr: cfg.lr, batchSize: cfg.batch, threads: cfg.threads, seed });
    }
    const steps = Math.ceil(labels.length / cfg.batch);
    const runs = Math.max(epochs, Math.ceil(cfg.minStepsPerGeneration / steps));
    for (let e = 0; e < runs; e++) {
      const views = randomAffine(features, side, { maxShift: cfg.shift, maxRotationDeg: cfg.rotation, maxScale: cfg.scale }, augRng);
      await trainer.fit({ features: views, labels }, { epochs: 1 });
    }
    return trainer;
  };
  const report = async (g: number, trainer: Trainer, pseudo: number, pseudoCorrect: number | null, started: number): Promise<void> => {
    const { accuracy } = await trainer.evaluate(ev);
    const r: GenerationReport = {
      generation: g, labeled: input.labels.length, pseudo_labeled: pseudo, eval_accuracy: accuracy,
      diagnostic_pseudo_label_accuracy: pseudoCorrect, seconds: (performance.now() - started) / 1000,
    };
    reports.push(r);
    log(`student: generation ${g}, ${r.labeled} labels + ${pseudo} pseudo-labels, eval accuracy ${(100 * accuracy).toFixed(2)}%` +
      (pseudoCorrect === null ? '' : ` (pseudo-labels ${(100 * pseudoCorrect).toFixed(1)}% right)`) + `, ${r.seconds.toFixed(0)} s`);
  };

  let started = performance.now();
  let ensemble: Float32Array | undefined;
  let trainer = await trainGeneration(0, labeledFeatures, Uint8Array.from(input.labels), cfg.epochs);
  await report(0, trainer, 0, null, started);
  for (let g = 1; g <= cfg.generations.length; g++) {
    started = performance.now();
    const probs = await viewAveragedProbs(trainer, unlabeledFeatures, side, cfg, augRng);
    // Each generation's beliefs are averaged with the previous ones (a temporal ensemble): steadier labels.
    if (ensemble) for (let i = 0; i < probs.length; i++) probs[i] = 0.5 * (probs[i]! + ensemble[i]!);
    ensemble = probs;
    const pseudo = confidentPseudoLabels(probs, 10, cfg.generations[g - 1]!);
    let right = 0;
    pseudo.rows.forEach((r, i) => { if (pub.labels[unlabeled[r]!] === pseudo.labels[i]) right++; });
    // The PATE labels are repeated so that they stay about a tenth of what each epoch sees.
    const repeat = Math.max(1, Math.round(pseudo.rows.length / (9 * input.labels.length)));
    const n = pseudo.rows.length + repeat * input.labels.length;
    const features = new Float32Array(n * width);
    const labels = new Uint8Array(n);
    features.set(pickRows(unlabeledFeatures, width, pseudo.rows));
    labels.set(pseudo.labels);
    for (let k = 0; k < repeat; k++) {
      const at = pseudo.rows.length + k * input.labels.length;
      features.set(labeledFeatures, at * width);
      labels.set(input.labels, at);
    }
    trainer = await trainGeneration(g, features, labels, cfg.generationEpochs, cfg.warmStart ? trainer : undefined);
    await report(g, trainer, pseudo.rows.length, right / Math.max(1, pseudo.rows.length), started);
  }
  return { accuracy: reports[reports.length - 1]!.eval_accuracy, labeled: input.labels.length, generations: reports, seconds: (performance.now() - t0) / 1000 };
}
