// The trainer's option and result types: what a caller passes to a Trainer and its fits, and gets back.
import type { OptimizerConfig } from './optimizers.ts';
import type { LrSchedule } from './lr-schedule.ts';
import type { DeviceRequest } from './runtime.ts';

export interface TrainerOptions {
  optimizer?: OptimizerConfig | 'sgd' | 'adam' | 'adamw';
  lr?: number;
  batchSize?: number;
  device?: DeviceRequest;
  threads?: number;
  /** Seeds shuffling and dropout masks (default 0). */
  seed?: number;
  schedule?: LrSchedule;
  /**
   * Steps per session.run. K > 1 runs K full batches per run: on a GPU with the data resident,
   * unrolled in one step graph; otherwise through an ONNX Loop. The learning rate is held for those
   * K steps. Default 8. On the CPU, onnxruntime-node copies every output of a run (all weights
   * and optimizer state) into a new buffer, so a K-step run pays that once per K steps; on a GPU,
   * the per-run cost is amortised (H200, WebGPU: 784-1024-10 MLP at batch 512, 2.0–3.7 → 1.0–1.25
   * ms/step). On a GPU the K steps are unrolled in one graph; when the data is too large to keep
   * on the device (over 1 GiB), each run uploads its own K batches.
   */
  stepsPerRun?: number;
}

export interface Progress {
  epoch: number; batch: number; batches: number; loss: number; accuracy: number; samplesPerSecond: number; done: boolean;
}

export interface FitOptions {
  /** Epochs to train; an epoch stopped midway (see `Trainer.position`) is finished first and counts as one. */
  epochs: number;
  onProgress?: (p: Progress) => void;
  progressEvery?: number;
  shuffle?: boolean;
  /**
   * Asked after each run (one step, or K): true ends the fit there, in the middle of an epoch, with
   * `Trainer.position` saying where and the state in host memory, so that a checkpoint taken then
   * resumes to the uninterrupted run's result. After an epoch's last run it is asked before the
   * next epoch instead, and true ends the fit between the two (no position).
   */
  shouldStop?: () => boolean;
  /** Mid-epoch checkpoints: `save` is called after the first run that ends `every` steps or more after the last call (state in host memory, `Trainer.position` set). */
  checkpoint?: { every: number; save: () => Promise<void> };
}

export interface EpochResult {
  epoch: number; loss: number; accuracy: number; samplesPerSecond: number; seconds: number;
  /** Samples trained in this fit: fewer than the epoch's when it resumed one stopped midway. */
  samples: number;
}

/**
 * Where a fit stopped in the middle of an epoch: the batches of epoch `Trainer.epoch` done, the
 * fit's size and batch size (a resumed fit must have the same, or its batches would differ), and
 * the epoch's running sums so far, so its reported loss and accuracy cover the whole epoch.
 */
export interface EpochPosition {
  batch: number; samples: number; batchSize: number;
  /** Σ loss·rows and Σ correct of the runs that report their steps' sums to JavaScript (ONNX Loop runs). */
  lossSum: number; correct: number;
  /**
   * The step graph's own running sums [Σ loss·rows, Σ correct] (single steps, unrolled runs), in
   * float32 as it adds them: kept apart from `lossSum`, so the resumed epoch adds in the same order
   * and reports the uninterrupted run's loss to the bit. Absent in older checkpoints: [0, 0].
   */
  graphSums?: [number, number];
}

/** Soft targets for distillation: one row of C values per sample. */
export interface DistillData {
  features: Float32Array;
  softTargets: Float32Array;
  /** 'probs' (default): rows are distributions; 'logits': teacher logits, softened here by T. */
  targetKind?: 'probs' | 'logits';
  /** Per-sample temperatures (swing distillation); default `temperature` for all. */
  temperatures?: Float32Array;
  temperature?: number;
  /** Weight of the hard-label CE term, in [0, 1] (default 0). */
  alpha?: number;
  hardLabels?: ArrayLike<number>;
  /** Soft term: 'kl' (default), or 'mse' / 'mae' on logits (FedMD). */
  softLoss?: 'kl' | 'mse' | 'mae';
}

