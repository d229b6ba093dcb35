// `fedistill train` end to end on a real MNIST subset: the --json object, the exported model, and 1 vs 8 steps per run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { loadOnnxTeacher, accuracyOf } from '../../../shared/ml/index.ts';
import { loadDataset } from '../../../shared/data/catalog.ts';

const BIN = fileURLToPath(new URL('../../../bin/fedistill.js', import.meta.url));

/** `fedistill train` in its own process; `interruptAt`: send SIGINT once stderr matches it. */
function trainProcess(args: string[], interruptAt?: RegExp): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '', signalled = false;
  child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    stderr += t;
    if (interruptAt && !signalled && interruptAt.test(stderr)) { signalled = true; child.kill('SIGINT'); }
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * `fedistill train` in its own process, interrupted from inside at a point a signal from outside
 * could only hit by chance: SIGINT as the Nth `shouldStop` question of its fits comes (after that
 * run), or as its Nth evaluation starts.
 */
function trainInterruptedAt(at: { run?: number; evaluation?: number; export?: boolean }, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `
    import { Trainer } from ${JSON.stringify(join(ROOT, 'shared/ml/trainer.ts'))};
    import { runCli } from ${JSON.stringify(join(ROOT, 'cli/main.ts'))};
    const at = ${JSON.stringify(at)};
    let runs = 0, evaluations = 0;
    const fit = Trainer.prototype.fit, evaluate = Trainer.prototype.evaluate;
    Trainer.prototype.fit = function (data, o) {
      return fit.call(this, data, { ...o, shouldStop: () => { if (++runs === at.run) process.emit('SIGINT', 'SIGINT'); return o.shouldStop?.() ?? false; } });
    };
    Trainer.prototype.evaluate = function (data) { if (++evaluations === at.evaluation) process.emit('SIGINT', 'SIGINT'); return evaluate.call(this, data); };
    const exportOnnx = Trainer.prototype.exportOnnx;
    Trainer.prototype.exportOnnx = function (path) { if (at.export) process.emit('SIGINT', 'SIGINT'); return exportOnnx.call(this, path); };
    process.exitCode = await runCli(['train', ...${JSON.stringify(args)}]);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
  child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? (signal === 'SIGINT' ? 130 : null), stdout, stderr })));
}

async function train(args: string[]) {
  let stdout = '', stderr = '';
  const code = await runCli(['train', ...args], { out: (t) => { stdout += t + '\n'; }, err: (t) => { stderr += t + '\n'; } });
  return { code, stdout, stderr };
}

test('fedistill train --json trains on MNIST, reports the issue\'s fields, and exports a model that predicts like it', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-train-'));
  try {
    const out = join(dir, 'mlp.onnx');
    const r = await train(['--limit', '3000', '--epochs', '2', '--threads', '1', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'stdout holds exactly one JSON object');
    const j = JSON.parse(lines[0]!);
    assert.equal(j.epochs, 2);
    assert.equal(j.device, 'cpu');
    assert.equal(j.steps_per_run, 8, 'the CPU default: 8 steps per run');
    assert.ok(j.samples_per_second > 0);
    assert.equal(j.history.length, 2);
    assert.ok(j.test_accuracy > 0.85, `3,000 MNIST samples, 2 epochs: test accuracy ${j.test_accuracy}`);
    // Progress goes to stderr: the header, per-epoch lines.
    assert.match(r.stderr, /^train mlp .* on mnist:train\[0:3000\] \(3000\)/m);
    assert.match(r.stderr, /epoch 2\/2: loss [\d.]+ train acc [\d.]+% test acc [\d.]+%/);
    // The exported inference model, loaded as a teacher, gives the reported test accuracy.
    const testSet = loadDataset('mnist:test');
    const teacher = await loadOnnxTeacher(out);
    const { logits } = await teacher.predict(testSet.features);
    assert.ok(Math.abs(accuracyOf(logits, testSet.numClasses, testSet.labels) - j.test_accuracy) < 1e-9);

    // One step per run (no ONNX Loop): the same training, about the same accuracy.
    const single = await train(['--limit', '3000', '--epochs', '2', '--threads', '1', '--steps-per-run', '1', '--json']);
    assert.equal(single.code, 0, single.stderr);
    const k = JSON.parse(single.stdout.trim());
    assert.equal(k.steps_per_run, 1);
    assert.ok(Math.abs(k.test_accuracy - j.test_accuracy) < 0.02, `single steps ${k.test_accuracy} vs looped ${j.test_accuracy}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('train refuses the test split and a --limit beyond the training split; resuming a checkpoint already at --epochs evaluates and exports it', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-train-'));
  try {
    const onTest = await train(['--dataset', 'mnist:test[:2000]', '--epochs', '1']);
    assert.equal(onTest.code, 2, onTest.stderr);
    assert.match(onTest.stderr, /would train on the test split.*use mnist:train\[:2000\]/);
    const tooMany = await train(['--limit', '70000', '--epochs', '1']);
    assert.equal(tooMany.code, 2, tooMany.stderr);
    assert.match(tooMany.stderr, /--limit: must be ≤ 60000 \(the size of mnist:train\), got 70000 \[E_INVALID_PARAMETER\]/);
    const ck = join(dir, 'a.ck');
    const first = await train(['--limit', '1000', '--epochs', '1', '--threads', '1', '--checkpoint', ck, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const out = join(dir, 'a.onnx');
    const again = await train(['--limit', '1000', '--epochs', '1', '--threads', '1', '--resume', ck, '--out', out, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /is at epoch 1, --epochs is 1: nothing left to train/);
    const j = JSON.parse(again.stdout);
    assert.equal(j.resumed_from_epoch, 1);
    assert.equal(j.test_accuracy, JSON.parse(first.stdout).test_accuracy, 'the checkpoint is evaluated as it was saved');
    assert.equal(j.samples_per_second, null);
    const teacher = await loadOnnxTeacher(out);
    const testSet = loadDataset('mnist:test');
    assert.ok(Math.abs(accuracyOf((await teacher.predict(testSet.features)).logits, testSet.numClasses, testSet.labels) - j.test_accuracy) < 1e-9);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C with --checkpoint stops after the current step and saves there; resuming gives the uninterrupted run\'s model', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-train-'));
  try {
    // 240 batches per epoch, a progress line every 100; 8 steps per run (the CPU's ONNX Loop).
    const common = ['--limit', '12000', '--batch', '50', '--epochs', '2', '--threads', '1', '--json'];
    const straight = await trainProcess([...common, '--out', join(dir, 'straight.onnx')]);
    assert.equal(straight.code, 0, straight.stderr);
    const ck = join(dir, 'run.ck');
    const args = [...common, '--checkpoint', ck, '--resume', ck, '--force', '--out', join(dir, 'resumed.onnx')];
    // the first run has nothing to resume from: no --resume
    const stopped = await trainProcess(args.filter((a, i) => a !== '--resume' && args[i - 1] !== '--resume'), /epoch 1 batch 100\/240/);
    assert.ok(stopped.code === 130 || stopped.signal === 'SIGINT', `code ${stopped.code}, signal ${stopped.signal}: ${stopped.stderr}`);
    assert.match(stopped.stderr, /train: SIGINT: stopping after the current step to save a checkpoint/);
    const line = stopped.stderr.split('\n').filter((l) => l.startsWith('train: interrupted'));
    assert.equal(line.length, 1, stopped.stderr);
    const m = /^train: interrupted \(SIGINT\) in epoch 1\/2; .*run\.ck holds epoch 0\/2 and batch (\d+)\/240 of epoch 1; continue with: the same command with --resume .*run\.ck; .*resumed\.onnx was not written/.exec(line[0]!);
    assert.ok(m, line[0]);
    const batch = Number(m![1]);
    assert.ok(batch >= 100 && batch < 240 && batch % 8 === 0, `stopped at batch ${batch}`);
    const j = JSON.parse(stopped.stdout);
    assert.deepEqual([j.ok, j.exit_code, j.error.code], [false, 130, 'E_INTERRUPTED']);

    const resumed = await trainProcess(args);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`resumed from .*run\\.ck at epoch 0/2 and batch ${batch}/240 of epoch 1`));
    assert.doesNotMatch(resumed.stderr, /warning/);
    const r = JSON.parse(resumed.stdout);
    assert.deepEqual([r.resumed_from_epoch, r.resumed_from_batch], [0, batch]);
    assert.equal(r.test_accuracy, JSON.parse(straight.stdout).test_accuracy);
    // the resumed epoch's reported loss and accuracy are the uninterrupted run's too, to the bit
    const trainMetrics = (h: { train_loss: number; train_accuracy: number }[]) => h.map((e) => [e.train_loss, e.train_accuracy]);
    assert.deepEqual(trainMetrics(r.history), trainMetrics(JSON.parse(straight.stdout).history));
    assert.ok(readFileSync(join(dir, 'resumed.onnx')).equals(readFileSync(join(dir, 'straight.onnx'))), 'the same weights: the same exported model');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C after the last epoch says the checkpoint holds all of it; a mid-epoch checkpoint is described beyond --epochs and refused with another batch size', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-train-'));
  try {
    // 30 batches per epoch: 3 ONNX Loop runs of 8, then single steps.
    const common = ['--limit', '3000', '--batch', '100', '--epochs', '2', '--threads', '1', '--json'];
    const straight = await train([...common, '--out', join(dir, 'straight.onnx')]);
    assert.equal(straight.code, 0, straight.stderr);
    const ck = join(dir, 'end.ck'), out = join(dir, 'm.onnx');
    // Ctrl-C while the last epoch is evaluated: the checkpoint is written, but not --out.
    const atEnd = await trainInterruptedAt({ evaluation: 2 }, [...common, '--checkpoint', ck, '--out', out]);
    assert.equal(atEnd.code, 130, atEnd.stderr);
    const line = atEnd.stderr.split('\n').filter((l) => l.startsWith('train: interrupted'));
    assert.deepEqual(line, [`train: interrupted (SIGINT) after the last epoch (2/2); ${ck} holds epoch 2/2; to evaluate it and write ${out}, run the same command with --resume ${ck}; ${out} was not written (--out is written at the end)`]);
    assert.equal(JSON.parse(atEnd.stdout).error.message, line[0]);
    // Ctrl-C while --out is written (nothing left to save): it stops at once, and says so.
    const inExport = await trainInterruptedAt({ export: true }, [...common, '--checkpoint', ck, '--resume', ck, '--out', out]);
    assert.equal(inExport.code, 130, inExport.stderr);
    assert.deepEqual(inExport.stderr.split('\n').filter((l) => l.startsWith('train: interrupted')), [`train: interrupted (SIGINT) after the last epoch (2/2); ${ck} holds epoch 2/2; to evaluate it and write ${out}, run the same command; ${out} was not written (--out is written at the end)`]);
    // Other options are warned about by their flags.
    const otherLr = await train([...common, '--checkpoint', ck, '--resume', ck, '--lr', '0.01']);
    assert.match(otherLr.stderr, /^warning: .*end\.ck was written with other training options \(--lr: 0\.001 in the checkpoint, 0\.01 now\): the resumed run will not give the uninterrupted run's result$/m);
    const finished = await train([...common, '--checkpoint', ck, '--resume', ck, '--out', out]);
    assert.equal(finished.code, 0, finished.stderr);
    assert.equal(JSON.parse(finished.stdout).test_accuracy, JSON.parse(straight.stdout).test_accuracy);
    assert.ok(readFileSync(out).equals(readFileSync(join(dir, 'straight.onnx'))));

    // Stopped after 8 batches of epoch 2 (the 9th run of the fits): --epochs 1 leaves nothing to train, and says what the file holds.
    const mid = join(dir, 'mid.ck');
    const stopped = await trainInterruptedAt({ run: 9 }, [...common, '--checkpoint', mid]);
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /interrupted \(SIGINT\) in epoch 2\/2; .*mid\.ck holds epoch 1\/2 and batch 8\/30 of epoch 2; continue with/);
    const beyond = await train([...common.filter((a) => a !== '--json'), '--epochs', '1', '--resume', mid]);
    assert.equal(beyond.code, 0, beyond.stderr);
    assert.match(beyond.stderr, /mid\.ck is at epoch 1 and batch 8\/30 of epoch 2, --epochs is 1: nothing left to train/);
    assert.match(beyond.stdout, /^test accuracy [\d.]+% after 1 epoch and batch 8\/30 of epoch 2 on cpu/);
    // Another batch size has no "rest of epoch 2": refused before any warning that the run goes on.
    const otherBatch = await train([...common, '--batch', '64', '--resume', mid]);
    assert.equal(otherBatch.code, 1, otherBatch.stderr);
    assert.doesNotMatch(otherBatch.stderr, /warning/);
    assert.match(otherBatch.stderr, /mid\.ck was taken in the middle of epoch 2, after batch 8 of 3000 training samples in batches of 100; .*resume with --batch 100 and the same --dataset and --limit \(this run has 3000 samples in batches of 64\) \[E_CHECKPOINT_MISMATCH\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--checkpoint-every needs --checkpoint; with it, the saves within an epoch leave the run\'s result unchanged', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-train-'));
  try {
    const alone = await train(['--limit', '1000', '--checkpoint-every', '5']);
    assert.equal(alone.code, 2, alone.stderr);
    assert.match(alone.stderr, /--checkpoint-every needs --checkpoint FILE/);
    // 20 batches of 50 in 8-step runs: saved after steps 8 and 16 of each epoch, then at its end.
    const common = ['--limit', '1000', '--batch', '50', '--epochs', '2', '--threads', '1'];
    const straight = await train([...common, '--out', join(dir, 'straight.onnx')]);
    const periodic = await train([...common, '--checkpoint', join(dir, 'p.ck'), '--checkpoint-every', '5', '--out', join(dir, 'periodic.onnx')]);
    assert.deepEqual([straight.code, periodic.code], [0, 0], periodic.stderr);
    assert.ok(readFileSync(join(dir, 'periodic.onnx')).equals(readFileSync(join(dir, 'straight.onnx'))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
