// What a script gets on failure: exit 1 or 2, one line on stderr with a stable code, and with --json one JSON object on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorJson, runCli, wantsJson } from '../../../cli/main.ts';
import { type CommandSpec, parseArgs } from '../../../cli/parse.ts';

function capture() {
  const io = { stdout: '', stderr: '', out(t: string) { io.stdout += t + '\n'; }, err(t: string) { io.stderr += t + '\n'; } };
  return io;
}

async function run(argv: string[]) {
  const io = capture();
  const code = await runCli(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

test('with --json a failure is exactly one JSON object on stdout with a stable code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-cli-'));
  try {
    const badJson = join(dir, 'bad.json');
    writeFileSync(badJson, 'nope\n');
    const cases: [string[], number, string][] = [
      [['train', '--epochs', '-1', '--json'], 2, 'E_INVALID_PARAMETER'],
      [['train', '--epochs', 'abc', '--json'], 2, 'E_USAGE'],
      [['trian', '--json'], 2, 'E_USAGE'],
      [['keys', 'generate', '--json'], 2, 'E_USAGE'],
      [['privacy', 'epsilon', '--events', badJson, '--delta', '1e-5', '--json'], 1, 'E_BAD_JSON'],
      [['privacy', 'epsilon', '--events', join(dir, 'missing.json'), '--delta', '1e-5', '--json'], 1, 'E_FILE_NOT_FOUND'],
      [['server', '--config', join(dir, 'missing.yaml'), '--json'], 1, 'E_CONFIG_MISSING'],
      [['audit', 'report', badJson, '--format', 'json'], 1, 'E_AUDIT_BAD_FORMAT'],
    ];
    for (const [argv, exit, code] of cases) {
      const r = await run(argv);
      const what = argv.join(' ');
      assert.equal(r.code, exit, `${what}: ${r.stderr}`);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 1, `${what}: one line on stdout`);
      const j = JSON.parse(lines[0]!);
      assert.equal(j.ok, false, what);
      assert.equal(j.exit_code, exit, what);
      assert.equal(j.error.code, code, what);
      assert.match(j.error.message, /\S/, what);
      assert.doesNotMatch(j.error.message, /\n/, what);
      assert.match(r.stderr, new RegExp(`\\[${code}\\]`), `${what}: the human line stays on stderr`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without --json a failure prints nothing on stdout and one line without a stack trace on stderr', async () => {
  for (const argv of [['train', '--lr', '-1'], ['data', 'partition', '--clients', '0', '--scheme', 'iid', '--seed', '1'], ['keys', 'show', '/nonexistent/k.key']]) {
    const r = await run(argv);
    assert.ok(r.code === 1 || r.code === 2, argv.join(' '));
    assert.equal(r.stdout, '', argv.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `${argv.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/);
    assert.match(r.stderr, /\[E_[A-Z_]+\]$/m);
  }
});

test('wantsJson reads --json and --format json, but not after "--"', () => {
  assert.equal(wantsJson(['train', '--json']), true);
  assert.equal(wantsJson(['audit', 'report', 'x', '--format', 'json']), true);
  assert.equal(wantsJson(['audit', 'report', 'x', '--format=json']), true);
  assert.equal(wantsJson(['audit', 'report', 'x', '--format', 'html']), false);
  assert.equal(wantsJson(['simulate', '--', '--json']), false);
  assert.deepEqual(JSON.parse(errorJson('fedistill x', 'E_INTERNAL', 'internal error: boom', 1)),
    { ok: false, command: 'fedistill x', exit_code: 1, error: { code: 'E_INTERNAL', message: 'internal error: boom' } });
});

test('numeric bounds are checked while parsing and say which flag and what is allowed', () => {
  const cmd: CommandSpec = {
    name: 't', summary: 't',
    flags: { epochs: { type: 'integer', help: 'e', default: 5, min: 1 }, lr: { type: 'number', help: 'l', above: 0 }, out: { type: 'string', help: 'o' } },
  };
  assert.deepEqual(parseArgs(cmd, ['--epochs', '1', '--lr', '1e-4'], 't').flags, { epochs: 1, lr: 1e-4 });
  assert.throws(() => parseArgs(cmd, ['--epochs', '0'], 't'), { code: 'E_INVALID_PARAMETER', exitCode: 2, message: '--epochs: must be ≥ 1, got 0' });
  assert.throws(() => parseArgs(cmd, ['--lr', '0'], 't'), { code: 'E_INVALID_PARAMETER', message: '--lr: must be > 0, got 0' });
  assert.throws(() => parseArgs(cmd, ['--out', '--epochs', '2'], 't'), /--out needs a value/);
  assert.throws(() => parseArgs(cmd, ['--constructor'], 't'), /unknown option --constructor/);
});

test('train refuses bad values before loading data or training', async () => {
  const t0 = Date.now();
  let r = await run(['train', '--limit', '-5', '--json']);
  assert.equal(r.code, 2);
  assert.equal(JSON.parse(r.stdout).error.message, '--limit: must be ≥ 1, got -5');
  r = await run(['train', '--dataset', 'mnist:train[:100]', '--limit', '10']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--limit applies to a dataset id; .*mnist:train\[:10\]/);
  r = await run(['train', '--limit', '10', '--epochs', '1', '--out', '/nonexistent-fedistill/m.onnx', '--json']);
  assert.equal(r.code, 1);
  assert.equal(JSON.parse(r.stdout).error.code, 'E_FILE_WRITE');
  assert.doesNotMatch(r.stderr, /epoch 1/, 'nothing was trained');
  assert.ok(Date.now() - t0 < 5000, 'the checks come first');
});

test('audit report without --out: --json is --format json, and any other --format (text too) is a usage error', async () => {
  for (const format of ['html', 'text']) {
    const r = await run(['audit', 'report', '/nonexistent/log.jsonl', '--json', '--format', format]);
    assert.equal(r.code, 2, format);
    assert.match(r.stderr, new RegExp(`--json prints the report as JSON on stdout, --format ${format} asks for ${format}.*--out FILE`));
    assert.equal(JSON.parse(r.stdout).error.code, 'E_USAGE');
  }
  // --format json agrees with --json: the next problem is the missing file.
  assert.match((await run(['audit', 'report', '/nonexistent/log.jsonl', '--json', '--format', 'json'])).stderr, /E_FILE_NOT_FOUND/);
});

test('--version --json prints the version as JSON; a bare group fails with exit 2 and names its commands', async () => {
  const v = await run(['--version', '--json']);
  assert.equal(v.code, 0);
  assert.match(JSON.parse(v.stdout).version, /^\d+\.\d+\.\d+/);
  const g = await run(['keys']);
  assert.equal(g.code, 2);
  assert.match(g.stderr, /"fedistill keys" needs a command: generate, show/);
  assert.equal(g.stdout, '');
});
