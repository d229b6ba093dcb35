// `fedistill train`: trains a reference model on a dataset with the ONNX training engine and exports the student.
import { accessSync, constants, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CliIO, CommandSpec } from '../parse.ts';
import { errorJson } from '../error-json.ts';
import { endBySignal, signalExitCode } from '../../shared/util/signal-exit.ts';
import { listDatasets, loadDataset } from '../../shared/data/catalog.ts';
import { Trainer, buildModel, loadCheckpoint, parameterCount, saveCheckpoint, type LrSchedule } from '../../shared/ml/index.ts';
import { FedistillError, UsageError } from '../../shared/util/errors.ts';

/**
 * Refuses an output path whose folder is missing or read-only, so a long training does not end
 * in a failed write, and an existing file without --force (E_FILE_EXISTS, the rule of every
 * command that writes a file): a trained model is not replaced by accident.
 */
function checkWritable(path: string, flag: string, force: boolean): void {
  if (!force && existsSync(path)) {
    throw new FedistillError('E_FILE_EXISTS', `${flag}: ${path} already exists; choose another path or pass --force to overwrite it`);
  }
  const dir = dirname(resolve(path));
  try { accessSync(dir, constants.W_OK); } catch (e) {
    throw new FedistillError('E_FILE_WRITE', `${flag}: cannot write ${path}: folder ${dir} ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not writable'}; create it or choose another path`);
  }
}

/**
 * Ctrl-C (or SIGTERM) during training. With a checkpoint file the first signal asks the run to stop
 * after its current step and save a checkpoint there (`requested`; the command then calls `end`); a
 * second ends it at once. Without one, the first ends it at once. Either way it says what the run
 * leaves behind (`describe`, told whether the run stopped where it chose or at once), prints the
 * --json error object, and ends with the signal's status (130 / 143).
 */
class Interruption {
  requested?: NodeJS.Signals;
  private readonly handler = (signal: NodeJS.Signals) => {
    if (this.graceful && !this.requested) {
      this.requested = signal;
      this.io.err(`train: ${signal}: stopping after the current step to save a checkpoint (press Ctrl-C again to stop at once, losing the steps since the last checkpoint)`);
      return;
    }
    void this.end(signal, true);
  };

  constructor(private readonly io: CliIO, private graceful: boolean, private readonly describe: (atOnce: boolean) => string, private readonly json: boolean) {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  /** After training there is nothing left to save: a signal ends the run at once (still saying so). */
  atOnceFromNow(): void { this.graceful = false; }

  /** Reports the interruption and ends the process (never resolves). */
  end(signal: NodeJS.Signals = this.requested ?? 'SIGINT', atOnce = false): Promise<never> {
    const line = `train: interrupted (${signal}) ${this.describe(atOnce)}`;
    this.io.err(line);
    // --json promises one object on stdout, also when the run is stopped
    if (this.json) this.io.out(errorJson('fedistill train', 'E_INTERRUPTED', line, signalExitCode(signal)));
    endBySignal(signal);
    return new Promise<never>(() => {});
  }

  stop(): void { process.off('SIGINT', this.handler); process.off('SIGTERM', this.handler); }
}

/** The trainer's option names in a checkpoint difference ("batchSize: 128 in the checkpoint, 64 now"), as train's flags. */
const FLAG_OF: Record<string, string> = { lr: '--lr', batchSize: '--batch', seed: '--seed', schedule: '--schedule and --epochs', stepsPerRun: '--steps-per-run', data: '--dataset and --limit' };
function asFlags(difference: string): string {
  const key = difference.slice(0, difference.indexOf(':'));
  return FLAG_OF[key] ? `${FLAG_OF[key]}${difference.slice(key.length)}` : difference;
}

export const trainCommand: CommandSpec = {
  name: 'train',
  summary: 'train a model (mlp or cnn) on a dataset and export it as .onnx',
  description:
    'Trains a reference model with the ONNX training engine (forward, loss, gradients and optimizer\n' +
    'update in one onnxruntime graph), evaluates on the test split each epoch and exports the\n' +
    'inference model. mlp = 784-512-256-10 ReLU; cnn = conv3x3(32)-maxpool-conv3x3(64)-maxpool-dense128-dense10.\n' +
    'Environment: FEDISTILL_ORT_PROFILE=DIR writes onnxruntime profiles (time per op; GPU time on webgpu)\n' +
    'to DIR at the end; FEDISTILL_WEBGPU_OPTIONS="validationMode=...,preferredLayout=..." sets WebGPU\n' +
    'provider options (docs/training.md).',
  flags: {
    dataset: { type: 'string', help: 'dataset id (uses its :train and :test splits), or a split spec such as mnist:train[:5000]', default: 'mnist', arg: 'ID' },
    model: { type: 'string', help: 'reference model', choices: ['mlp', 'cnn'], default: 'mlp' },
    epochs: { type: 'integer', help: 'epochs to train', default: 5, min: 1 },
    batch: { type: 'integer', help: 'batch size', default: 128, min: 1 },
    lr: { type: 'number', help: 'learning rate', above: 0, defaultHelp: '1e-3 for adam/adamw, 0.05 for sgd' },
    optimizer: { type: 'string', help: 'optimizer', choices: ['sgd', 'adam', 'adamw'], default: 'adam' },
    schedule: { type: 'string', help: 'learning-rate schedule: cosine decays --lr to 0 over --epochs; step multiplies it by 0.3 every max(1, ⌊epochs/3⌋) epochs', choices: ['constant', 'step', 'cosine'], default: 'cosine' },
    device: { type: 'string', help: 'execution provider', choices: ['cpu', 'webgpu', 'cuda', 'auto'], default: 'cpu' },
    threads: { type: 'integer', help: 'CPU threads', min: 1, defaultHelp: 'all cores' },
    'steps-per-run': { type: 'integer', help: 'training steps per onnxruntime run (an ONNX Loop on the CPU, unrolled on a GPU; weights and optimizer state cross to JavaScript once per K steps; the learning rate is held for K steps)', defaultHelp: '8', min: 1, arg: 'K' },
    seed: { type: 'integer', help: 'seed for initialisation, shuffling and dropout', default: 1, min: 0 },
    limit: { type: 'integer', help: 'use only the first N training samples (quick runs; with a dataset id, not a split spec)', min: 1, arg: 'N' },
    out: { type: 'string', help: 'write the trained inference model here', arg: 'FILE.onnx' },
    checkpoint: { type: 'string', help: 'write a checkpoint here after every epoch, and where Ctrl-C stops the run (after its current step; continue with --resume)', arg: 'FILE' },
    'checkpoint-every': { type: 'integer', help: 'also write the checkpoint every N training steps within an epoch (needs --checkpoint)', min: 1, arg: 'N' },
    resume: { type: 'string', help: 'resume from this checkpoint (continues up to --epochs); give the flags of the first run to get its result (--model and --optimizer must match; another lr, batch, seed, schedule, --steps-per-run or training data is warned about, but one taken mid-epoch needs the same --batch and training data); --checkpoint may name the same file', arg: 'FILE' },
    force: { type: 'boolean', help: 'overwrite --out and --checkpoint if they exist' },
    json: { type: 'boolean', help: 'print one JSON object with the results' },
  },
  examples: [
    'fedistill train --limit 2000 --epochs 1',
    'fedistill train --dataset mnist --model cnn --epochs 5 --out cnn.onnx',
    'fedistill train --dataset fashion-mnist --model cnn --epochs 5 --json',
    'fedistill train --model cnn --epochs 5 --checkpoint cnn.ck',
    'fedistill train --model cnn --epochs 5 --checkpoint cnn.ck --resume cnn.ck',
  ],
  async run(args, io) {
    const f = args.flags;
    const ds = String(f.dataset);
    const epochs = Number(f.epochs);
    if (f.limit !== undefined && ds.includes(':')) {
      throw new UsageError(`--limit applies to a dataset id; with a split spec put the range in it, e.g. ${ds.split('[')[0]}[:${f.limit}]`);
    }
    const dsName = ds.split(':')[0]!, splitPart = ds.includes(':') ? ds.slice(ds.indexOf(':') + 1) : undefined;
    if (splitPart !== undefined && splitPart.split('[')[0] === 'test') {
      throw new UsageError(`--dataset ${ds} would train on the test split, which train evaluates on (the test accuracy would be measured on training data); use ${dsName}:train${splitPart.slice(4)}`);
    }
    const trainSize = listDatasets().find((d) => d.name === ds)?.splits.find((s) => s.name === 'train')?.length;
    if (f.limit !== undefined && trainSize !== undefined && Number(f.limit) > trainSize) {
      throw new UsageError(`--limit: must be ≤ ${trainSize} (the size of ${ds}:train), got ${f.limit}`, 'E_INVALID_PARAMETER');
    }
    // Fail before the epochs are spent, not after: the output files must be new (or --force) in writable folders.
    // A checkpoint that is also --resume is meant to be rewritten: resuming continues it.
    for (const flag of ['out', 'checkpoint'] as const) {
      if (f[flag] === undefined) continue;
      const resumesIt = flag === 'checkpoint' && f.resume !== undefined && resolve(String(f.resume)) === resolve(String(f.checkpoint));
      checkWritable(String(f[flag]), `--${flag}`, Boolean(f.force) || resumesIt);
    }
    if (f['checkpoint-every'] !== undefined && f.checkpoint === undefined) throw new UsageError('--checkpoint-every needs --checkpoint FILE (where to write it)');
    const trainSpec = ds.includes(':') ? ds : `${ds}:train${f.limit ? `[:${f.limit}]` : ''}`;
    const testSpec = ds.includes(':') ? `${ds.split(':')[0]}:test` : `${ds}:test`;
    const train = loadDataset(trainSpec);
    const test = loadDataset(testSpec);
    const seed = Number(f.seed);
    const model = buildModel(String(f.model) as 'mlp' | 'cnn', { seed, input: [...train.shape], classes: train.numClasses });
    const schedule: LrSchedule = f.schedule === 'cosine' ? { kind: 'cosine', totalEpochs: epochs }
      : f.schedule === 'step' ? { kind: 'step', everyEpochs: Math.max(1, Math.floor(epochs / 3)), gamma: 0.3 } : { kind: 'constant' };
    const trainer = new Trainer(model, {
      optimizer: String(f.optimizer) as 'sgd' | 'adam', lr: f.lr as number | undefined, batchSize: Number(f.batch),
      device: String(f.device) as 'cpu', threads: f.threads as number | undefined, seed, schedule,
      stepsPerRun: f['steps-per-run'] as number | undefined,
    });
    const device = await trainer.resolvedDevice();
    const stepsPerRun = await trainer.stepsPerRun();
    const differences = f.resume ? await loadCheckpoint(trainer, String(f.resume), train.spec) : [];
    const stoppedAt = trainer.position;
    // Refused here, before warnings that would say the run goes on (the trainer's fit refuses it too).
    if (stoppedAt && (stoppedAt.samples !== train.length || stoppedAt.batchSize !== trainer.batchSize)) {
      throw new FedistillError('E_CHECKPOINT_MISMATCH', `${f.resume} was taken in the middle of epoch ${trainer.epoch + 1}, after batch ${stoppedAt.batch} of ${stoppedAt.samples} training samples in batches of ${stoppedAt.batchSize}; the rest of that epoch exists only with those: resume with --batch ${stoppedAt.batchSize} and the same --dataset and --limit (this run has ${train.length} samples in batches of ${trainer.batchSize})`);
    }
    for (const d of differences) io.err(`warning: ${f.resume} was written with other training options (${asFlags(d)}): the resumed run will not give the uninterrupted run's result`);
    const resumedFrom = f.resume ? trainer.epoch : null;
    const resumedFromBatch = f.resume ? stoppedAt?.batch ?? 0 : null;
    const batches = Math.ceil(train.length / trainer.batchSize);
    // Where the trainer stands: "epoch 2/5" done, or "epoch 2/5 and batch 120/469 of epoch 3".
    const midEpoch = () => trainer.position ? ` and batch ${trainer.position.batch}/${batches} of epoch ${trainer.epoch + 1}` : '';
    const standing = () => `epoch ${trainer.epoch}/${epochs}${midEpoch()}`;
    io.err(`train ${f.model} (${parameterCount(model)} params) on ${train.spec} (${train.length}), ${f.optimizer} lr ${trainer.lr}, batch ${trainer.batchSize}, device ${device}, seed ${seed}`);
    if (resumedFrom !== null) {
      io.err(resumedFrom >= epochs
        ? `${f.resume} is at epoch ${resumedFrom}${midEpoch()}, --epochs is ${epochs}: nothing left to train (raise --epochs to continue); evaluating it`
        : `resumed from ${f.resume} at ${standing()}`);
    }
    // the same command resumes from the checkpoint only if it is the --resume file
    const sameFile = f.resume !== undefined && f.checkpoint !== undefined && resolve(String(f.resume)) === resolve(String(f.checkpoint));
    const resumeHint = sameFile ? 'the same command' : f.resume ? `the same command with --resume ${f.checkpoint} (and --checkpoint ${f.checkpoint})` : `the same command with --resume ${f.checkpoint}`;
    // What the checkpoint file holds; one that is the --resume file already holds where it resumed.
    let saved = sameFile ? standing() : undefined, savedAll = sameFile && !trainer.position && trainer.epoch >= epochs;
    const save = async () => {
      await saveCheckpoint(trainer, String(f.checkpoint), train.spec);
      saved = standing();
      savedAll = !trainer.position && trainer.epoch >= epochs;
    };
    const interruption = new Interruption(io, f.checkpoint !== undefined, (atOnce) => {
      // Stopped where the run chose (Ctrl-C with --checkpoint): mid-epoch, or between epochs; at once: somewhere in the next epoch.
      const where = trainer.position || (atOnce && inFit) ? `in epoch ${trainer.epoch + 1}/${epochs}`
        : trainer.epoch >= epochs ? `after the last epoch (${trainer.epoch}/${epochs})` : `after epoch ${trainer.epoch}/${epochs}`;
      const kept = saved ? `${f.checkpoint} holds ${saved}; ${savedAll ? `to evaluate it${f.out ? ` and write ${f.out}` : ''}, run` : 'continue with:'} ${resumeHint}`
        : f.checkpoint ? 'no checkpoint was written yet' : 'nothing was saved (pass --checkpoint FILE to keep the run so far)';
      return `${where}; ${kept}${f.out ? `; ${f.out} was not written (--out is written at the end)` : ''}`;
    }, !!f.json);
    const every = f['checkpoint-every'] as number | undefined;
    const history: Record<string, number>[] = [];
    const t0 = performance.now();
    let trainSeconds = 0, trained = 0, testAccuracy = NaN, inFit = false;
    try {
      while (trainer.epoch < epochs) {
        inFit = true;
        const [r] = await trainer.fit(train, {
          epochs: 1,
          onProgress: (p) => { if (!p.done) io.err(`  epoch ${p.epoch + 1} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)} acc ${(p.accuracy * 100).toFixed(2)}% ${p.samplesPerSecond.toFixed(0)} samples/s`); },
          shouldStop: () => interruption.requested !== undefined,
          checkpoint: every ? { every, save } : undefined,
        });
        inFit = false;
        // Stopped by Ctrl-C: mid-epoch (no result), or at the epoch's end (not evaluated).
        if (!r || interruption.requested) { await save(); await interruption.end(); }
        trainSeconds += r!.seconds;
        trained += r!.samples;
        const ev = await trainer.evaluate(test);
        testAccuracy = ev.accuracy;
        history.push({ epoch: r!.epoch + 1, train_loss: r!.loss, train_accuracy: r!.accuracy, test_accuracy: ev.accuracy, test_loss: ev.loss, samples_per_second: r!.samplesPerSecond });
        io.err(`epoch ${r!.epoch + 1}/${epochs}: loss ${r!.loss.toFixed(4)} train acc ${(r!.accuracy * 100).toFixed(2)}% test acc ${(ev.accuracy * 100).toFixed(2)}% ${r!.samplesPerSecond.toFixed(0)} samples/s`);
        if (!Number.isFinite(r!.loss)) io.err(`warning: the training loss is ${r!.loss} in epoch ${r!.epoch + 1}: training diverged (try a lower --lr)${f.resume ? ` or ${f.resume} holds non-finite weights` : ''}`);
        if (f.checkpoint) await save();
        if (interruption.requested) await interruption.end();
      }
      interruption.atOnceFromNow();
      if (interruption.requested) await interruption.end(); // asked before the first fit of a run with nothing to train
      // A checkpoint already at --epochs trains nothing: still report (and export) what it holds.
      if (history.length === 0) testAccuracy = (await trainer.evaluate(test)).accuracy;
      if (f.out) await trainer.exportOnnx(String(f.out));
    } finally { interruption.stop(); }
    await trainer.release(); // frees the sessions; with FEDISTILL_ORT_PROFILE set, writes their profiles
    const result = {
      dataset: ds, train_samples: train.length, model: f.model, epochs, resumed_from_epoch: resumedFrom, resumed_from_batch: resumedFromBatch, batch: trainer.batchSize, optimizer: f.optimizer, lr: trainer.lr, schedule: f.schedule,
      threads: device === 'cpu' ? (f.threads ?? availableParallelism()) : null, seed, device, steps_per_run: stepsPerRun,
      test_accuracy: testAccuracy, samples_per_second: trained > 0 ? trained / trainSeconds : null, train_seconds: trainSeconds,
      wall_seconds: (performance.now() - t0) / 1000, peak_rss_mb: process.resourceUsage().maxRSS / 1024, out: f.out ?? null, history,
    };
    if (f.json) io.out(JSON.stringify(result));
    else io.out(`test accuracy ${(testAccuracy * 100).toFixed(2)}% after ${trainer.epoch} epoch${trainer.epoch === 1 ? '' : 's'}${midEpoch()}${result.samples_per_second !== null ? `, ${result.samples_per_second.toFixed(0)} samples/s` : ''} on ${device}${f.out ? `; wrote ${f.out}` : ''}`);
  },
};
