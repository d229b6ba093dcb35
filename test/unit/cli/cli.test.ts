// The CLI contract: --help everywhere, --version, exit codes 0/1/2, hints for typos.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, root, VERSION } from '../../../cli/main.ts';
import type { CommandSpec } from '../../../cli/parse.ts';
import { closest, parseArgs } from '../../../cli/parse.ts';

function capture() {
  const io = { stdout: '', stderr: '', out(t: string) { io.stdout += t + '\n'; }, err(t: string) { io.stderr += t + '\n'; } };
  return io;
}

function allPaths(cmd: CommandSpec, prefix: string[] = []): string[][] {
  const here = [prefix];
  for (const s of cmd.subcommands ?? []) here.push(...allPaths(s, [...prefix, s.name]));
  return here;
}

test('--version prints the package version', async () => {
  const io = capture();
  assert.equal(await runCli(['--version'], io), 0);
  assert.equal(io.stdout.trim(), VERSION);
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
});

test('every command and subcommand answers --help with usage and exit 0', async () => {
  const paths = allPaths(root);
  assert.ok(paths.length > 2);
  for (const p of paths) {
    const io = capture();
    assert.equal(await runCli([...p, '--help'], io), 0, `fedistill ${p.join(' ')} --help`);
    assert.match(io.stdout, /^Usage: fedistill/, `help of ${p.join(' ')}`);
  }
});

test('unknown command is a usage error with a hint', async () => {
  const io = capture();
  assert.equal(await runCli(['dat'], io), 2);
  assert.match(io.stderr, /unknown command "dat".*did you mean data\?/);
  assert.equal(io.stdout, '');
});

test('unknown flag is a usage error with a hint and no stack trace', async () => {
  const io = capture();
  assert.equal(await runCli(['data', 'inspect', 'mnist', '--jsn'], io), 2);
  assert.match(io.stderr, /unknown option --jsn.*did you mean --json\?/);
  assert.doesNotMatch(io.stderr, /at .*\.ts:\d+/);
});

test('a command group without a subcommand prints its help to stderr and exits 2', async () => {
  const io = capture();
  assert.equal(await runCli(['data'], io), 2);
  assert.match(io.stderr, /Commands:/);
});

test('flag parsing: types, defaults, required, choices', () => {
  const cmd: CommandSpec = {
    name: 't', summary: 't',
    flags: {
      n: { type: 'integer', help: 'n', required: true },
      x: { type: 'number', help: 'x', default: 0.5 },
      mode: { type: 'string', help: 'm', choices: ['fast', 'slow'], default: 'fast' },
      json: { type: 'boolean', help: 'j' },
    },
  };
  assert.deepEqual(parseArgs(cmd, ['--n', '3', '--json'], 't').flags, { n: 3, json: true, x: 0.5, mode: 'fast' });
  assert.deepEqual(parseArgs(cmd, ['--n=4', '--x=1e-3', '--mode', 'slow'], 't').flags, { n: 4, x: 0.001, mode: 'slow', json: false });
  assert.throws(() => parseArgs(cmd, [], 't'), /missing --n/);
  assert.throws(() => parseArgs(cmd, ['--n', '2.5'], 't'), /--n must be an integer/);
  assert.throws(() => parseArgs(cmd, ['--n', '1', '--x', 'abc'], 't'), /--x must be a number/);
  assert.throws(() => parseArgs(cmd, ['--n', '1', '--mode', 'slw'], 't'), /did you mean slow/);
  assert.throws(() => parseArgs(cmd, ['--n'], 't'), /--n needs a value/);
  assert.throws(() => parseArgs(cmd, ['--n', '1', 'extra'], 't'), /unexpected argument "extra"/);
});

test('closest finds near misses only', () => {
  assert.equal(closest('partiton', ['inspect', 'partition']), 'partition');
  assert.equal(closest('zzzzzz', ['inspect', 'partition']), undefined);
});
