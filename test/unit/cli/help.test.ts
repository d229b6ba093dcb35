// Help is accurate: every command has an example that parses, and the options help lists are the ones accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { root, runCli } from '../../../cli/main.ts';
import { type CommandSpec, helpText, parseArgs } from '../../../cli/parse.ts';

function capture() {
  const io = { stdout: '', stderr: '', out(t: string) { io.stdout += t + '\n'; }, err(t: string) { io.stderr += t + '\n'; } };
  return io;
}

function allCommands(cmd: CommandSpec, path = 'fedistill'): [string, CommandSpec][] {
  return [[path, cmd], ...(cmd.subcommands ?? []).flatMap((s) => allCommands(s, `${path} ${s.name}`))];
}

/** Splits an example line like a shell would for these simple cases (quotes group words). */
function words(line: string): string[] {
  return (line.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^(["'])(.*)\1$/, '$2'));
}

/** Resolves an example to its command and parses its flags, as runCli would, without running it. */
function parseExample(line: string): string {
  const argv = words(line);
  assert.equal(argv.shift(), 'fedistill', line);
  if (argv[0] === 'help') argv.shift();
  let cmd = root;
  let path = 'fedistill';
  while (cmd.subcommands?.length && argv.length && !argv[0]!.startsWith('-')) {
    const name = argv.shift()!;
    const sub = cmd.subcommands.find((s) => s.name === name);
    assert.ok(sub, `${line}: no command "${name}" under ${path}`);
    cmd = sub;
    path += ' ' + name;
  }
  parseArgs(cmd, argv, path);
  return path;
}

test('every command and group shows at least one example, and every example parses', () => {
  for (const [path, cmd] of allCommands(root)) {
    assert.ok(cmd.examples?.length, `${path} has no example`);
    for (const e of cmd.examples!) {
      const target = parseExample(e);
      assert.ok(target.startsWith(path) || cmd.subcommands?.length, `${path}: example "${e}" runs ${target}`);
    }
  }
});

test('help lists exactly the flags a command accepts, with their bounds and defaults', () => {
  for (const [path, cmd] of allCommands(root)) {
    const help = helpText(cmd, path);
    const listed = [...help.matchAll(/^ {2}(?:-h, )?--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!).filter((n) => n !== 'help').sort();
    assert.deepEqual(listed, Object.keys(cmd.flags ?? {}).sort(), path);
    for (const [name, spec] of Object.entries(cmd.flags ?? {})) {
      const row = help.slice(help.indexOf(`  --${name}`)).split('\n').slice(0, 2).join(' ');
      if (spec.default !== undefined) assert.match(row, new RegExp(`default: ${String(spec.default).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`), `${path} --${name}`);
      if (spec.min !== undefined) assert.match(row, new RegExp(`≥ ${spec.min}`), `${path} --${name}`);
      if (spec.required) assert.match(row, /required/, `${path} --${name}`);
    }
  }
});

test('every command that prints results offers --json', () => {
  for (const [path, cmd] of allCommands(root)) {
    if (!cmd.run) continue;
    assert.equal(cmd.flags?.json?.type, 'boolean', `${path} has no --json`);
  }
});

test('"fedistill help CMD" is "fedistill CMD --help", and help wins over other errors', async () => {
  const a = capture();
  const b = capture();
  assert.equal(await runCli(['help', 'privacy', 'pate'], a), 0);
  assert.equal(await runCli(['privacy', 'pate', '--help'], b), 0);
  assert.equal(a.stdout, b.stdout);
  assert.match(a.stdout, /^Usage: fedistill privacy pate/);
  const c = capture();
  assert.equal(await runCli(['train', '--epochs', 'abc', '--nope', '-h'], c), 0);
  assert.match(c.stdout, /^Usage: fedistill train/);
});

test('long option names keep the help table aligned', () => {
  const cmd: CommandSpec = { name: 't', summary: 't', flags: { scheme: { type: 'string', help: 'partition scheme', choices: ['iid', 'dirichlet', 'shards', 'quantity'] } } };
  const lines = helpText(cmd, 't').split('\n');
  const i = lines.indexOf('  --scheme iid|dirichlet|shards|quantity');
  assert.ok(i > 0, 'the long option stands on its own line');
  assert.equal(lines[i + 1], `  ${' '.repeat(30)} partition scheme`);
});
