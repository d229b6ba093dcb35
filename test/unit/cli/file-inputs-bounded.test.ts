// keys show, the privacy commands' JSON inputs and train --resume read regular files only, bounded: a
// FIFO with no writer is refused at once (it hung the command), /dev/zero is refused (it was read
// until memory ran out), a file over the limit is refused from its size, and a normal file works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { MAX_PRIVACY_INPUT_BYTES } from '../../../cli/commands/privacy.ts';
import { MAX_KEY_FILE_BYTES } from '../../../shared/crypto/identity.ts';
import { MAX_CHECKPOINT_BYTES } from '../../../shared/ml/checkpoint.ts';

const NOT_REGULAR = 'not a regular file (a pipe, socket or device)';

/** What one in-process `fedistill …` run gave: exit code, stdout, stderr and its JSON. */
interface Run { code: number; out: string; err: string; json: { ok?: boolean; error?: { code: string; message: string } } & Record<string, unknown> }

async function cli(argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  let json = {};
  try { json = JSON.parse(out); } catch { /* asserted by the caller */ }
  return { code, out, err, json };
}

/** Asserts that a --json run failed with exit 1, `code`, a message matching `says`, and no stack trace. */
function assertRefused(r: Run, code: string, says: string | RegExp): void {
  assert.equal(r.code, 1, `exit code; stdout ${r.out} stderr ${r.err}`);
  assert.equal(r.json.ok, false, r.out);
  assert.equal(r.json.error?.code, code, r.out);
  if (typeof says === 'string') assert.ok(r.json.error!.message.includes(says), r.json.error!.message);
  else assert.match(r.json.error!.message, says);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace on stderr');
  assert.equal(r.err.trim().split('\n').length, 1, `one line on stderr: ${r.err}`);
}

/**
 * A FIFO with no writer for the whole of `fn`, and a watchdog that opens it for writing after
 * `releaseMs`: a reader that blocks on it is released (and then fails its assertions on the code,
 * message) instead of hanging the test run. Async, so that a command that awaits before
 * reading (train) still finds the FIFO there.
 */
async function withFifo(fn: (fifo: string) => Promise<void>, releaseMs = 3000): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-fifo-inputs-'));
  const fifo = join(dir, 'input');
  execFileSync('mkfifo', [fifo]);
  const watchdog: ChildProcess = spawn('sh', ['-c', `sleep ${releaseMs / 1000}; : > '${fifo}'`], { stdio: 'ignore' });
  try {
    await fn(fifo);
  } finally {
    watchdog.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-inputs-'));
  try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** A sparse file of `bytes` bytes (no disk used): refused from its size, never read. */
function sparse(path: string, bytes: number, mode = 0o600): string {
  writeFileSync(path, '', { mode });
  truncateSync(path, bytes);
  return path;
}

// --- keys show -----------------------------------------------------------------------------------

test('keys show refuses a FIFO with no writer at once, and /dev/zero, with E_KEY_FILE_INVALID', async () => {
  await withFifo(async (fifo) => {
    const r = await cli(['keys', 'show', fifo, '--json']);
    assertRefused(r, 'E_KEY_FILE_INVALID', `cannot read key file ${fifo}: ${NOT_REGULAR}`);
  });
  // /dev/zero sizes as 0 and never ends: it was read until memory ran out (10.9 GB in 30 s)
  assertRefused(await cli(['keys', 'show', '/dev/zero', '--json']), 'E_KEY_FILE_INVALID', `cannot read key file /dev/zero: ${NOT_REGULAR}`);
});

test('keys show refuses a key file over the 64 KiB limit from its size, and shows a real key file', () => withDir(async (dir) => {
  assert.equal(MAX_KEY_FILE_BYTES, 64 * 1024, 'docs/config.md: key files 64 KiB');
  const big = sparse(join(dir, 'big.key'), MAX_KEY_FILE_BYTES + 1);
  assertRefused(await cli(['keys', 'show', big, '--json']), 'E_KEY_FILE_INVALID', `${big} is ${MAX_KEY_FILE_BYTES + 1} bytes, over ${MAX_KEY_FILE_BYTES} bytes`);
  const key = join(dir, 'site.key');
  const made = await cli(['keys', 'generate', '--out', key, '--json']);
  assert.equal(made.code, 0, made.err);
  const shown = await cli(['keys', 'show', key, '--json']);
  assert.equal(shown.code, 0, shown.err);
  assert.equal(shown.json.public_key, made.json.public_key);
  assert.equal(shown.json.fingerprint, made.json.fingerprint);
  // what the file is still comes before its mode: a non-key file is not told to chmod 600
  const readme = join(dir, 'README.md');
  writeFileSync(readme, '# not a key\n');
  chmodSync(readme, 0o644);
  assertRefused(await cli(['keys', 'show', readme, '--json']), 'E_KEY_FILE_INVALID', 'is not JSON');
}));

// --- privacy epsilon --events, pate --votes, calibrate --events-template ----------------------------

/** The three privacy commands, each with its JSON input FILE and a small valid one. */
const privacyCommands: { flag: string; argv: (file: string) => string[]; valid: unknown; check: (r: Run) => void }[] = [
  {
    flag: '--events',
    argv: (file) => ['privacy', 'epsilon', '--events', file, '--delta', '1e-5', '--json'],
    valid: [{ type: 'gaussian', noise_multiplier: 1.1, count: 10 }],
    check: (r) => assert.ok(typeof r.json.epsilon === 'number' && r.json.epsilon > 0, r.out),
  },
  {
    flag: '--votes',
    argv: (file) => ['privacy', 'pate', '--votes', file, '--threshold', '200', '--sigma1', '150', '--sigma2', '40', '--delta', '1e-5', '--data-independent-only', '--json'],
    valid: [{ votes: [240, 5, 5], answered: true }, { votes: [100, 90, 60], answered: false }],
    check: (r) => { assert.equal(r.json.queries, 2, r.out); assert.equal(r.json.answered, 1, r.out); },
  },
  {
    flag: '--events-template',
    argv: (file) => ['privacy', 'calibrate', '--target-epsilon', '5', '--delta', '1e-5', '--events-template', file, '--json'],
    valid: [{ type: 'gaussian', noise_multiplier: '?', count: 10 }],
    check: (r) => assert.ok(typeof r.json.noise_multiplier === 'number' && (r.json.epsilon as number) <= 5, r.out),
  },
];

test('privacy epsilon --events, pate --votes and calibrate --events-template refuse a FIFO with no writer at once, and /dev/zero, with E_FILE_NOT_FOUND', async () => {
  for (const c of privacyCommands) {
    await withFifo(async (fifo) => {
      const r = await cli(c.argv(fifo));
      assertRefused(r, 'E_FILE_NOT_FOUND', `${c.flag}: cannot read ${fifo}: ${NOT_REGULAR}`);
    });
  }
  for (const c of privacyCommands) {
    assertRefused(await cli(c.argv('/dev/zero')), 'E_FILE_NOT_FOUND', `${c.flag}: cannot read /dev/zero: ${NOT_REGULAR}`);
  }
});

test('the privacy JSON inputs are refused over 64 MiB from their size; valid files, missing files and non-JSON behave as before', () => withDir(async (dir) => {
  assert.equal(MAX_PRIVACY_INPUT_BYTES, 64 * 2 ** 20);
  for (const c of privacyCommands) {
    const big = sparse(join(dir, 'big.json'), MAX_PRIVACY_INPUT_BYTES + 1, 0o644);
    const r = await cli(c.argv(big));
    assertRefused(r, 'E_FILE_NOT_FOUND', `${c.flag}: ${big} is ${MAX_PRIVACY_INPUT_BYTES + 1} bytes, more than the ${MAX_PRIVACY_INPUT_BYTES} (64 MiB)`);
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(c.valid));
    const ok = await cli(c.argv(file));
    assert.equal(ok.code, 0, `${c.flag}: ${ok.err}`);
    c.check(ok);
    assertRefused(await cli(c.argv(join(dir, 'missing.json'))), 'E_FILE_NOT_FOUND', /cannot read .*missing\.json \(ENOENT\); check the path$/);
    writeFileSync(file, '[{');
    assertRefused(await cli(c.argv(file)), 'E_BAD_JSON', `${c.flag}: ${file} is not valid JSON`);
  }
}));

// --- train --resume ------------------------------------------------------------------------------

const TRAIN = ['train', '--limit', '100', '--epochs', '1', '--threads', '1', '--json'];

test('train --resume refuses a FIFO with no writer at once, and /dev/zero, with E_CHECKPOINT_NOT_FOUND', async () => {
  // train awaits its device and datasets before it reads the checkpoint: the watchdog waits longer
  await withFifo(async (fifo) => {
    const r = await cli([...TRAIN, '--resume', fifo]);
    assertRefused(r, 'E_CHECKPOINT_NOT_FOUND', `cannot read checkpoint ${fifo}: ${NOT_REGULAR}`);
  }, 10_000);
  assertRefused(await cli([...TRAIN, '--resume', '/dev/zero']), 'E_CHECKPOINT_NOT_FOUND', `cannot read checkpoint /dev/zero: ${NOT_REGULAR}`);
});

test('train --resume refuses a checkpoint over 2 GiB − 2 bytes from its size, and resumes a real one', () => withDir(async (dir) => {
  assert.equal(MAX_CHECKPOINT_BYTES, 2 ** 31 - 2, 'one byte under the most fs.readFile, the reader before, could read');
  // sparse: 2 GiB of nothing on disk, refused from fstat before a byte is read
  const big = sparse(join(dir, 'big.ck'), MAX_CHECKPOINT_BYTES + 1, 0o644);
  assertRefused(await cli([...TRAIN, '--resume', big]), 'E_CHECKPOINT_NOT_FOUND',
    `cannot read checkpoint ${big}: it is ${MAX_CHECKPOINT_BYTES + 1} bytes, more than the ${MAX_CHECKPOINT_BYTES} a checkpoint may hold`);
  const ck = join(dir, 'ck');
  const first = await cli([...TRAIN, '--checkpoint', ck, '--out', join(dir, 'm1.onnx')]);
  assert.equal(first.code, 0, first.err);
  const resumed = await cli([...TRAIN, '--resume', ck, '--out', join(dir, 'm2.onnx')]);
  assert.equal(resumed.code, 0, resumed.err);
  assert.equal(resumed.json.resumed_from_epoch, 1, resumed.out);
  assert.equal(resumed.json.test_accuracy, first.json.test_accuracy, 'the resumed model is the saved one');
  // an unreadable path and a foreign file keep their codes
  assertRefused(await cli([...TRAIN, '--resume', join(dir, 'missing.ck')]), 'E_CHECKPOINT_NOT_FOUND', /ENOENT/);
  const foreign = join(dir, 'foreign.ck');
  writeFileSync(foreign, 'not a checkpoint');
  assertRefused(await cli([...TRAIN, '--resume', foreign]), 'E_CHECKPOINT_INVALID', 'does not start with the checkpoint header');
}));

test('a teacher model (site.yaml teacher_onnx) that is a FIFO with no writer, or /dev/zero, is refused at once with E_TEACHER_NOT_FOUND; one over maxBytes from its size', async () => {
  const { loadOnnxTeacher } = await import('../../../shared/ml/inference.ts');
  const refused = (code: string, says: RegExp) => (e: Error & { code?: string }) => e.code === code && says.test(e.message);
  await withFifo(async (fifo) => {
    await assert.rejects(loadOnnxTeacher(fifo), refused('E_TEACHER_NOT_FOUND', new RegExp(`cannot read teacher model ${fifo}: not a regular file \\(a pipe, socket or device\\)$`)));
  });
  await assert.rejects(loadOnnxTeacher('/dev/zero'), refused('E_TEACHER_NOT_FOUND', /not a regular file/));
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-teacher-size-'));
  try {
    const big = join(dir, 'big.onnx');
    writeFileSync(big, '');
    truncateSync(big, 1025);
    await assert.rejects(loadOnnxTeacher(big, { maxBytes: 1024 }), refused('E_TEACHER_INVALID', /is 1025 bytes, over the limit of 1024 for a teacher model/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
