// Trainer: runs training-step graphs on onnxruntime, keeping weights and optimizer state as tensors between steps.
import { performance } from 'node:perf_hooks';
import { type Model } from './model.ts';
import { type LossConfig, validateLoss } from './losses.ts';
import { ADAMW_DEFAULT_WEIGHT_DECAY, type OptimizerConfig, normaliseOptimizer, stateSlots, validateOptimizer } from './optimizers.ts';
import { type LrSchedule, lrAt, validateSchedule } from './lr-schedule.ts';
import { type Device, ort, resolveDevice } from './runtime.ts';
import { type SessionLease, leaseSession } from './session-cache.ts';
import { allRows, atStep, batchColumns, buildInferenceGraph, names } from './train-graph.ts';
import { DeviceCopies } from './device-copies.ts';
import { carriedNames, outer } from './train-loop-graph.ts';
import { type StepSession, StepSessions } from './step-sessions.ts';
import { type BatchFeeds, dropoutMasks, hostBatchFeeds, residentBatchFeeds, stackedLoopFeeds, stackedRowFeeds } from './step-feeds.ts';
import { type Predictions, accuracyOf, exportOnnx, meanCrossEntropy, predictBatches } from './inference.ts';
import { type TrainData, checkTokenIds, distillColumns, epochOrder, oneHot, toSamples } from './train-data.ts';
import { FedistillError, check } from '../util/errors.ts';
import { didYouMean } from '../util/suggest.ts';
import type { DistillData, EpochPosition, EpochResult, FitOptions, TrainerOptions } from './trainer-types.ts';

export type { DistillData, EpochPosition, EpochResult, FitOptions, Progress, TrainerOptions } from './trainer-types.ts';

/** Default steps per run (see `TrainerOptions.stepsPerRun`). */
export const DEFAULT_STEPS_PER_RUN = 8;

/** Every key of TrainerOptions: any other (a `learningRate`) is refused, never ignored. */
const TRAINER_OPTION_KEYS: readonly string[] = ['optimizer', 'lr', 'batchSize', 'device', 'threads', 'seed', 'schedule', 'stepsPerRun'];
const FIT_OPTION_KEYS: readonly string[] = ['epochs', 'onProgress', 'progressEvery', 'shuffle', 'shouldStop', 'checkpoint'];

const OPTIMIZER_DEFAULTS: Record<string, OptimizerConfig> = {
  sgd: { kind: 'sgd', momentum: 0.9 },
  adam: { kind: 'adam' },
  adamw: { kind: 'adamw', weightDecay: ADAMW_DEFAULT_WEIGHT_DECAY },
};

/** Training data up to this size is uploaded to a GPU once per fit; larger sets are uploaded batch by batch. */
const RESIDENT_DATA_BYTES = 2 ** 30;

/**
 * How K steps run in one session.run: an ONNX Loop over K stacked batches (the CPU), or K steps
 * unrolled in one graph (a GPU), whose rows are gathered from the resident columns or, with
 * `hostRows`, from the run's own K batches uploaded with it (data too large to keep on the device).
 */
interface MultiStep { kind: 'unrolled' | 'loop'; session: StepSession; k: number; hostRows?: boolean }

/**
 * Trains a model in place. Weights, optimizer state and buffers live as onnxruntime tensors,
 * fed from one step's outputs to the next; graphs are built once per loss configuration.
 */
export class Trainer {
  readonly optimizer: OptimizerConfig;
  /** Base learning rate (the schedule scales it); `setLearningRate` changes it between fits. */
  get lr(): number { return this.baseLr; }
  private baseLr: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly schedule: LrSchedule;
  /** Steps and epochs done so far (restored by checkpoints). */
  step = 0;
  epoch = 0;
  /**
   * Optimizer steps since the optimizer state was last reset: Adam's t, for its bias corrections.
   * `step` counts every step (dropout masks, checkpoints); this one restarts at 0 with
   * `setWeights(w, true)`, as a fresh optimizer would. Checkpoints restore it.
   */
  optimizerStep = 0;
  /** Set while epoch `epoch` is stopped midway (a fit's `shouldStop`, or a checkpoint taken then); the next fit goes on from it. */
  position?: EpochPosition;
  protected device?: Device;
  protected readonly state = new Map<string, ort.Tensor>();
  private readonly sessions: StepSessions;
  private readonly copies: DeviceCopies;
  /** The step graph's running sums [Σ loss·rows, Σ correct] for the current epoch. */
  private metrics: ort.Tensor = new ort.Tensor('float32', new Float32Array(2), [2]);

  constructor(readonly model: Model, readonly options: TrainerOptions = {}) {
    this.copies = new DeviceCopies(() => this.resolvedDevice(), options.threads);
    const o = options.optimizer ?? 'adam';
    if (typeof o === 'string' && !OPTIMIZER_DEFAULTS[o]) throw new FedistillError('E_INVALID_PARAMETER', `optimizer must be sgd, adam or adamw, got "${o}"`);
    for (const k of Object.keys(options)) {
      check(TRAINER_OPTION_KEYS.includes(k), k, `is not a trainer option${didYouMean(k, TRAINER_OPTION_KEYS)}; the options are ${TRAINER_OPTION_KEYS.join(', ')}`);
    }
    this.optimizer = typeof o === 'string' ? OPTIMIZER_DEFAULTS[o]! : normaliseOptimizer(o);
    validateOptimizer(this.optimizer);
    this.sessions = new StepSessions({ layout: model.layout, optimizer: this.optimizer, device: () => this.resolvedDevice(), threads: options.threads, stateNames: () => this.state.keys() });
    this.baseLr = options.lr ?? (this.optimizer.kind === 'sgd' ? 0.05 : 1e-3);
    check(this.baseLr > 0 && Number.isFinite(this.baseLr), 'lr', `must be a positive number, got ${this.baseLr}`);
    this.batchSize = options.batchSize ?? 128;
    check(Number.isSafeInteger(this.batchSize) && this.batchSize > 0, 'batchSize', `must be a positive integer, got ${this.batchSize}`);
    this.seed = options.seed ?? 0;
    this.schedule = options.schedule ?? { kind: 'constant' };
    validateSchedule(this.schedule, this.baseLr);
    this.loadTensorsFromModel(true);
  }

  /**
   * Sets the base learning rate for the following fits, keeping weights and optimizer state (Adam
   * moments, step count): a rate change mid-run without the jolt of a fresh optimizer.
   */
  setLearningRate(lr: number): void {
    check(lr > 0 && Number.isFinite(lr), 'lr', `must be a positive number, got ${lr}`);
    this.baseLr = lr;
  }

  /** The provider in use (resolved on first use). */
  async resolvedDevice(): Promise<Device> {
    this.device ??= await resolveDevice(this.options.device ?? 'cpu');
    return this.device;
  }

  /** Steps per session.run on the resolved device (see `TrainerOptions.stepsPerRun`). */
  async stepsPerRun(): Promise<number> {
    const k = this.options.stepsPerRun ?? DEFAULT_STEPS_PER_RUN;
    check(Number.isSafeInteger(k) && k >= 1, 'stepsPerRun', `must be a positive integer, got ${k}`);
    return k;
  }

  protected loadTensorsFromModel(resetOptimizer: boolean): void {
    const { layout } = this.model;
    layout.params.forEach((p, i) => {
      this.state.set(names.param(p.name), new ort.Tensor('float32', this.model.weights[i]!.slice(), p.shape));
      if (resetOptimizer) for (const slot of stateSlots(this.optimizer)) {
        this.state.set(names.state(p.name, slot), new ort.Tensor('float32', new Float32Array(this.model.weights[i]!.length), p.shape));
      }
    });
    layout.buffers.forEach((b, i) => this.state.set(names.buffer(b.name), new ort.Tensor('float32', this.model.buffers[i]!.slice(), b.shape)));
  }

  /** Copies the current tensors back into `model.weights` / `model.buffers`. */
  syncModel(): void {
    const { layout } = this.model;
    this.model.weights = layout.params.map((p) => Float32Array.from(this.state.get(names.param(p.name))!.data as Float32Array));
    this.model.buffers = layout.buffers.map((b) => Float32Array.from(this.state.get(names.buffer(b.name))!.data as Float32Array));
  }

  /** Current weights, one Float32Array per parameter in layout order (copies; FedAvg averages these). */
  getWeights(): Float32Array[] {
    this.syncModel();
    return this.model.weights.map((w) => w.slice());
  }

  /**
   * Replaces the weights (shapes checked); optimizer state is kept unless `resetOptimizer`, which
   * zeroes it and restarts Adam's step count (`optimizerStep`): the next update is a fresh Adam's first.
   */
  setWeights(weights: readonly Float32Array[], resetOptimizer = false): void {
    const { params } = this.model.layout;
    if (weights.length !== params.length) throw new FedistillError('E_SHAPE_MISMATCH', `expected ${params.length} weight arrays, got ${weights.length}`);
    params.forEach((p, i) => {
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (weights[i]!.length !== n) throw new FedistillError('E_SHAPE_MISMATCH', `weight ${p.name} needs ${n} values [${p.shape}], got ${weights[i]!.length}`);
    });
    this.syncModel();
    this.model.weights = weights.map((w) => Float32Array.from(w));
    this.loadTensorsFromModel(resetOptimizer);
    if (resetOptimizer) this.optimizerStep = 0;
  }

  /** Named tensors of the training state (params, optimizer slots, buffers), for checkpoints. */
  stateEntries(): [string, ort.Tensor][] { return [...this.state.entries()]; }
  restoreState(entries: Map<string, { dims: number[]; data: Float32Array }>): void {
    for (const name of this.state.keys()) {
      const e = entries.get(name);
      if (!e) throw new FedistillError('E_CHECKPOINT_MISMATCH', `checkpoint has no tensor ${name}; it was written for another model or optimizer`);
      if (e.data.length !== this.state.get(name)!.size) throw new FedistillError('E_CHECKPOINT_MISMATCH', `checkpoint tensor ${name} has ${e.data.length} values, the model needs ${this.state.get(name)!.size}`);
      this.state.set(name, new ort.Tensor('float32', e.data, e.dims));
    }
    this.syncModel();
  }

  /** K steps in one run: batches are stacked along a leading K axis. Returns per-step summed loss (loss × rows) and correct. */
  private async runLoop(ss: StepSession, batches: Record<string, ort.Tensor>[], epochFraction: number): Promise<{ lossSum: number; correct: number }[]> {
    const k = batches.length;
    const feeds: Record<string, ort.Tensor> = {
      ...stackedLoopFeeds(this.model.layout, batches, ss.inputs, this.seed, this.step),
      [outer('lr')]: new ort.Tensor('float32', new Float32Array([lrAt(this.schedule, this.lr, epochFraction)]), []),
      [outer('step')]: new ort.Tensor('float32', new Float32Array([this.optimizerStep + 1]), []),
      [outer('trips')]: new ort.Tensor('int64', new BigInt64Array([BigInt(k)]), []),
    };
    for (const c of carriedNames({ layout: this.model.layout, loss: { kind: 'ce' }, optimizer: this.optimizer })) feeds[outer(c.name)] = this.state.get(c.name)!;
    const out = await ss.session.run(feeds);
    for (const name of this.state.keys()) this.state.set(name, out[outer(names.next(name))]!);
    this.step += k;
    this.optimizerStep += k;
    const lossSums = out[outer('loss_sums')]!.data as Float32Array;
    const corrects = out[outer('corrects')]!.data as Float32Array;
    return Array.from({ length: k }, (_, i) => ({ lossSum: lossSums[i]!, correct: corrects[i]! }));
  }

  /**
   * Optimizer steps on prepared batches, one per batch, in one run of a step graph with as many
   * steps; updates the state tensors and the metric sums.
   */
  private async runStep(ss: StepSession, batches: Record<string, ort.Tensor>[], epochFraction: number): Promise<void> {
    const k = batches.length;
    const feeds: Record<string, ort.Tensor> = { metrics: this.metrics };
    feeds.lr = new ort.Tensor('float32', new Float32Array([lrAt(this.schedule, this.lr, epochFraction)]), []);
    feeds.step = new ort.Tensor('float32', new Float32Array([this.optimizerStep + 1]), []);
    for (const [name, t] of this.state) if (ss.inputs.has(name)) feeds[name] = t;
    batches.forEach((batch, i) => {
      // Whole-dataset columns (all:*) are shared by the steps; rows, batches and masks are per step.
      for (const [name, t] of Object.entries(batch)) feeds[name.startsWith('all:') ? name : atStep(name, i, k)] = t;
      const n = (batch.x ?? batch.rows)!.dims[0]!;
      for (const m of dropoutMasks(this.model.layout, this.seed, n, this.step + i)) feeds[atStep(names.mask(m.name), i, k)] = new ort.Tensor('float32', m.mask, m.dims);
    });
    // No preallocated outputs: onnxruntime-node copies every output into a new buffer even when
    // one is given (measured: no faster), so the CPU's lever is K steps per run instead.
    const out = await ss.session.run(feeds);
    for (const name of this.state.keys()) {
      const next = out[names.next(name)];
      if (next) this.state.set(name, next);
    }
    this.metrics = out[names.next('metrics')]!;
    this.step += k;
    this.optimizerStep += k;
  }

  /** The step graph's running sums [Σ loss·rows, Σ correct] since the epoch began (a sync point on a GPU). */
  private async readMetrics(): Promise<[number, number]> {
    const [m] = await this.copies.toHost([['metrics', this.metrics]]);
    return [Number(m!.data[0]), Number(m!.data[1])];
  }

  /**
   * Shared epoch loop over per-sample columns (x and the loss's targets, n rows each). On a GPU the
   * columns are uploaded once and each step gathers its rows on the device; on the CPU each batch's
   * rows are copied into reused arrays.
   */
  private async loop(n: number, loss: LossConfig, o: FitOptions, columns: Record<string, Float32Array>): Promise<EpochResult[]> {
    for (const k of Object.keys(o)) check(FIT_OPTION_KEYS.includes(k), k, `is not a fit option${didYouMean(k, FIT_OPTION_KEYS)}; the options are ${FIT_OPTION_KEYS.join(', ')}`);
    check(Number.isSafeInteger(o.epochs) && o.epochs >= 0, 'epochs', `must be a non-negative integer, got ${o.epochs}`);
    validateLoss(loss);
    if (n === 0) throw new FedistillError('E_EMPTY_DATASET', 'no samples to train on');
    const onCpu = (await this.resolvedDevice()) === 'cpu';
    const cols = batchColumns({ layout: this.model.layout, loss, optimizer: this.optimizer })
      .map((c) => ({ ...c, width: c.row.reduce((a, b) => a * b, 1) }));
    const columnBytes = cols.reduce((a, c) => a + columns[c.name]!.length * 4, 0);
    const resident = !onCpu && process.env.FEDISTILL_GPU_DATA !== 'host' && columnBytes <= RESIDENT_DATA_BYTES;
    const K = await this.stepsPerRun();
    const ss = await this.sessions.step(loss, resident);
    // K steps per run: on a GPU, K steps unrolled in one graph (the WebGPU provider has no Loop
    // kernel: a Loop would run on the CPU provider and move the state to the host every step);
    // on the CPU, an ONNX Loop over K stacked batches.
    // Not built for a fit with fewer than K full batches (a small shard or transfer set): it would never run.
    const multi: MultiStep | undefined = K === 1 || Math.floor(n / this.batchSize) < K ? undefined
      : !onCpu ? { kind: 'unrolled', session: await this.sessions.step(loss, true, K), k: K, hostRows: !resident }
      : { kind: 'loop', session: await this.sessions.loop(loss), k: K };
    const residentColumns = resident ? await this.copies.toDevice(cols.map((c) => [allRows(c.name), new ort.Tensor('float32', columns[c.name]!, [n, ...c.row])])) : {};
    const batchFeeds = resident ? residentBatchFeeds(residentColumns) : hostBatchFeeds(cols, columns, !multi);
    // On a GPU, steps queue up until something is read back; reading the metrics at least every
    // `drainEvery` steps bounds the batch data waiting in upload buffers (about 256 MB).
    const uploadPerStep = this.batchSize * (resident ? 8 : cols.reduce((a, c) => a + 4 * c.width, 0));
    const drainEvery = onCpu ? 0 : Math.max(1, Math.floor(256e6 / uploadPerStep));
    try {
      return await this.epochs(n, o, ss, multi, batchFeeds, drainEvery);
    } finally {
      for (const t of Object.values(residentColumns)) t.dispose();
    }
  }

  /**
   * The epochs of a fit: batches in seeded order, one step (or K) per batch, metrics and progress.
   * An epoch stopped midway (`position`) goes on from its next batch, so the steps are the
   * uninterrupted run's; a fit may itself stop, or save a checkpoint, after any run.
   */
  private async epochs(n: number, o: FitOptions, ss: StepSession, multi: MultiStep | undefined, batchFeeds: BatchFeeds, drainEvery: number): Promise<EpochResult[]> {
    const K = multi?.k ?? 1;
    const batches = Math.ceil(n / this.batchSize);
    const fullBatches = Math.floor(n / this.batchSize);
    const every = o.progressEvery ?? 100;
    const saveEvery = o.checkpoint?.every ?? 0;
    check(saveEvery === 0 || (Number.isSafeInteger(saveEvery) && saveEvery > 0), 'checkpoint.every', `must be a positive integer, got ${saveEvery}`);
    let lastSave = this.step;
    const results: EpochResult[] = [];
    for (let e = 0; e < o.epochs; e++) {
      // Not asked after an epoch's last run, but here: a stop asked for then ends the fit between epochs.
      if (e > 0 && o.shouldStop?.()) break;
      const resume = this.resumePosition(n);
      const order = epochOrder(n, this.seed, this.epoch, o.shuffle ?? true);
      const t0 = performance.now();
      // Loop runs report their losses to us; single steps and unrolled runs add theirs to the graph's sums.
      let loopLoss = resume?.lossSum ?? 0, loopCorrect = resume?.correct ?? 0;
      const start = resume?.batch ?? 0;
      const seenBefore = Math.min(n, start * this.batchSize);
      let seen = seenBefore;
      this.metrics = new ort.Tensor('float32', new Float32Array(resume?.graphSums ?? [0, 0]), [2]);
      // Full batches from `start` run K at a time; the rest one at a time.
      const groupedEnd = multi ? start + Math.floor((fullBatches - start) / K) * K : 0;
      const pending: Record<string, ort.Tensor>[] = [];
      for (let b = start; b < batches; b++) {
        const idx = order.subarray(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize));
        const feeds = batchFeeds(idx);
        if (multi && b < groupedEnd) {
          pending.push(feeds);
          if (pending.length === K) {
            const at = this.epoch + (b + 1 - K) / batches;
            if (multi.kind === 'unrolled') await this.runStep(multi.session, multi.hostRows ? stackedRowFeeds(pending.splice(0)) : pending.splice(0), at);
            else for (const r of await this.runLoop(multi.session, pending.splice(0), at)) { loopLoss += r.lossSum; loopCorrect += r.correct; }
            seen = (b + 1) * this.batchSize;
          }
        } else {
          await this.runStep(ss, [feeds], this.epoch + b / batches);
          seen = Math.min(n, (b + 1) * this.batchSize);
        }
        const done = b === batches - 1;
        const report = o.onProgress && (done || (b + 1) % every === 0);
        if (report || (drainEvery && (b + 1) % drainEvery === 0)) {
          const [lossSum, correct] = await this.readMetrics();
          if (report) o.onProgress!({ epoch: this.epoch, batch: b + 1, batches, loss: (loopLoss + lossSum) / seen, accuracy: (loopCorrect + correct) / seen, samplesPerSecond: (seen - seenBefore) / ((performance.now() - t0) / 1000), done });
        }
        // Between runs, not at the epoch's end (a checkpoint there needs no position).
        if (done || pending.length > 0) continue;
        const stop = o.shouldStop?.() ?? false;
        if (stop || (saveEvery && this.step - lastSave >= saveEvery)) {
          await this.pauseAt(b + 1, n, loopLoss, loopCorrect);
          if (stop) return results;
          await o.checkpoint!.save();
          lastSave = this.step;
          this.position = undefined; // set only while stopped: the epoch goes on
        }
      }
      const [lossSum, correct] = await this.readMetrics();
      const seconds = (performance.now() - t0) / 1000;
      results.push({ epoch: this.epoch, loss: (loopLoss + lossSum) / seen, accuracy: (loopCorrect + correct) / seen, samplesPerSecond: (seen - seenBefore) / seconds, seconds, samples: seen - seenBefore });
      this.epoch++;
      this.position = undefined;
    }
    await this.downloadState();
    this.syncModel();
    return results;
  }

  /** The position of the epoch stopped midway that this fit of n samples goes on from, if any (checked to fit it). */
  private resumePosition(n: number): EpochPosition | undefined {
    const p = this.position;
    if (p && (p.samples !== n || p.batchSize !== this.batchSize)) {
      throw new FedistillError('E_CHECKPOINT_MISMATCH', `epoch ${this.epoch + 1} stopped after batch ${p.batch} of a fit of ${p.samples} samples in batches of ${p.batchSize}; this fit has ${n} samples in batches of ${this.batchSize}, so its batches would not be the stopped epoch's: resume with the same data and batch size`);
    }
    return p;
  }

  /** Stops between runs in the middle of an epoch: records where (`position`) and brings the state to host memory. */
  private async pauseAt(batch: number, n: number, loopLoss: number, loopCorrect: number): Promise<void> {
    this.position = { batch, samples: n, batchSize: this.batchSize, lossSum: loopLoss, correct: loopCorrect, graphSums: await this.readMetrics() };
    await this.downloadState();
    this.syncModel();
  }

  /**
   * Brings state tensors that live in GPU buffers back to host memory (after a loop on webgpu):
   * an identity graph on the same device whose outputs default to the host.
   */
  private async downloadState(): Promise<void> {
    const entries = [...this.state];
    const host = await this.copies.toHost(entries);
    entries.forEach(([name], i) => this.state.set(name, host[i]!));
  }

  /** Trains `epochs` more epochs with cross-entropy on hard labels. */
  async fit(data: TrainData, o: FitOptions): Promise<EpochResult[]> {
    const { input, classes } = this.model.layout.spec;
    const s = toSamples(data, input, classes, this.vocab);
    if (!s.labels) throw new FedistillError('E_SHAPE_MISMATCH', 'fit needs labels');
    return this.loop(s.n, { kind: 'ce' }, o, { x: s.features, y_hard: oneHot(s.labels, classes) });
  }

  /** Trains `epochs` more epochs on soft targets: (1−α)·soft term + α·CE(hard labels). */
  async distill(d: DistillData, o: FitOptions): Promise<EpochResult[]> {
    const { n, loss, columns } = distillColumns(d, this.model.layout.spec.input, this.model.layout.spec.classes, this.vocab);
    return this.loop(n, loss, o, columns);
  }

  private evalSession?: Promise<SessionLease>;

  /** The vocabulary of a model that starts with an embedding: its features are token ids. */
  private get vocab(): number | undefined {
    const first = this.model.layout.spec.layers[0];
    return first?.type === 'embedding' ? first.vocab : undefined;
  }

  /** Logits and probabilities (eval mode) for row-major features, with the current weights. */
  async predict(features: Float32Array): Promise<Predictions> {
    if (this.vocab !== undefined) checkTokenIds(features, this.vocab);
    this.evalSession ??= (async () => leaseSession(buildInferenceGraph(this.model.layout).toModel(), await this.resolvedDevice(), this.options.threads))();
    const { session } = await this.evalSession;
    const extra: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) { const t = this.state.get(name); if (t) extra[name] = t; }
    return predictBatches(session, 'input', features, this.model.layout.spec.input, extra);
  }

  /** Accuracy and mean cross-entropy on labelled data. */
  async evaluate(data: TrainData): Promise<{ accuracy: number; loss: number; n: number }> {
    const s = toSamples(data, this.model.layout.spec.input, this.model.layout.spec.classes, this.vocab);
    if (!s.labels) throw new FedistillError('E_SHAPE_MISMATCH', 'evaluate needs labels');
    if (s.n === 0) throw new FedistillError('E_EMPTY_DATASET', 'no samples to evaluate');
    const p = await this.predict(s.features);
    return { accuracy: accuracyOf(p.logits, p.classes, s.labels), loss: meanCrossEntropy(p.logits, p.classes, s.labels), n: s.n };
  }

  /**
   * Gives back the onnxruntime sessions this trainer holds (step, loop, evaluation and device copies;
   * a session other trainers share stays theirs),
   * after bringing any GPU-resident state back to host memory. The trainer stays usable: sessions
   * are built again on next use. With FEDISTILL_ORT_PROFILE set, this is when the profiles of the sessions
   * no other trainer still holds are written (a shared one's, by its last holder, covers all their runs).
   */
  async release(): Promise<void> {
    await this.downloadState(); // a no-op for state already on the host
    const evalSession = this.evalSession;
    this.evalSession = undefined;
    await Promise.all([
      this.sessions.release(),
      evalSession?.then((s) => s.release(), () => undefined), // one that failed to build has nothing to give back
      this.copies.release(),
    ]);
  }

  /** Writes the deployable inference model (.onnx) with the current weights. */
  async exportOnnx(path: string): Promise<void> {
    this.syncModel();
    await exportOnnx(this.model, path);
  }
}
