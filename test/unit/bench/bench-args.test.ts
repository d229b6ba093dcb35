// The benchmarks' shared command-line parser: defaults, value forms, one-line reasons for every rejection, and --help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchHelp, benchPath, parseBenchArgs, type BenchCommand } from '../../../bench/bench-args.ts';
import { UsageError } from '../../../shared/util/errors.ts';

const CMD = {
  name: 'demo',
  summary: 'What the demo measures.\nWhat it prints.',
  options: {
    steps: { kind: 'integer', arg: 'N', default: 100, help: 'steps per model' },
    rounds: { kind: 'integer', arg: 'R', default: 10, min: 2, help: 'rounds' },
    threads: { kind: 'integer', arg: 'T', defaultHelp: 'all cores', help: 'threads' },
    alpha: { kind: 'number', arg: 'A', default: 0.1, above: 0, help: 'skew' },
    noise: { kind: 'number', default: 20, min: 0, help: 'noise multiplier' },
    seeds: { kind: 'integers', help: 'seeds', defaultHelp: "the scenario's" },
    mode: { kind: 'string', choices: ['in-process', 'loopback'], default: 'in-process', help: 'where sites run' },
    out: { kind: 'string', arg: 'DIR', help: 'output folder\nsecond line of help', defaultHelp: 'runs/x' },
    quick: { kind: 'boolean', help: 'fewer cases' },
    flooder: { kind: 'boolean', hidden: true, help: 'internal child' },
  },
} as const satisfies BenchCommand;

/** The UsageError message parseBenchArgs throws for argv (fails the test when it parses). */
function rejection(argv: string[], cmd: BenchCommand = CMD): string {
  try {
    parseBenchArgs(cmd, argv);
  } catch (e) {
    assert.ok(e instanceof UsageError, `not a UsageError: ${String(e)}`);
    assert.equal(e.exitCode, 2);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  assert.fail(`accepted ${argv.join(' ')}`);
}

test('no flags: every default, booleans false, flags without a default undefined', () => {
  const r = parseBenchArgs(CMD, []);
  assert.equal(r.help, false);
  if (r.help) return;
  assert.deepEqual(r.values, { steps: 100, rounds: 10, threads: undefined, alpha: 0.1, noise: 20, seeds: undefined, mode: 'in-process', out: undefined, quick: false, flooder: false });
  assert.deepEqual(r.positionals, []);
});

test('values are converted to what their kind promises, spaced or with =', () => {
  const r = parseBenchArgs(CMD, ['--steps', '7', '--rounds=2', '--alpha', '0.5', '--noise=0', '--seeds', '1,2,30', '--mode', 'loopback', '--out', 'runs/y', '--quick', '--flooder', '--threads', '3']);
  assert.ok(!r.help);
  assert.deepEqual(r.values, { steps: 7, rounds: 2, threads: 3, alpha: 0.5, noise: 0, seeds: [1, 2, 30], mode: 'loopback', out: 'runs/y', quick: true, flooder: true });
});

test('--help or -h anywhere before "--" wins over every error', () => {
  assert.deepEqual(parseBenchArgs(CMD, ['--help']), { help: true });
  assert.deepEqual(parseBenchArgs(CMD, ['--no-such-flag', '-h']), { help: true });
  assert.deepEqual(parseBenchArgs(CMD, ['--steps', 'abc', '--help']), { help: true });
  assert.equal(rejection(['--', '--help']), 'unexpected argument "--help"');
});

test('unknown options are named, with the nearest visible flag as a hint, never a hidden one', () => {
  assert.equal(rejection(['--no-such-flag']), 'unknown option --no-such-flag');
  assert.equal(rejection(['--stpes', '5']), 'unknown option --stpes (did you mean --steps?)');
  assert.equal(rejection(['--floodr']), 'unknown option --floodr');
  assert.equal(rejection(['-x']), 'unknown option -x');
});

test('a missing value, a value given to a switch, and stray arguments are each one short reason', () => {
  assert.equal(rejection(['--steps']), '--steps needs a value (N)');
  assert.equal(rejection(['--steps', '--quick']), '--steps needs a value (N)');
  assert.equal(rejection(['--out=']), '--out needs a value (DIR)');
  assert.equal(rejection(['--quick=yes']), '--quick takes no value');
  assert.equal(rejection(['extra']), 'unexpected argument "extra"');
});

test('integers must be whole and at least their minimum (1 unless set)', () => {
  for (const bad of ['0', 'abc', '1.5', '1e3', '', ' ', '-1', '99999999999999999999']) {
    assert.equal(rejection([`--steps=${bad}`]), `--steps must be a positive integer, got "${bad}"`);
  }
  assert.equal(rejection(['--rounds', '1']), '--rounds must be an integer ≥ 2, got "1"');
});

test('numbers must be finite and within their bounds; lists hold non-negative integers; choices are listed', () => {
  assert.equal(rejection(['--alpha', '0']), '--alpha must be a number > 0, got "0"');
  assert.equal(rejection(['--alpha', 'NaN']), '--alpha must be a number > 0, got "NaN"');
  assert.equal(rejection(['--noise=-1']), '--noise must be a number ≥ 0, got "-1"');
  assert.equal(rejection(['--noise', 'Infinity']), '--noise must be a number ≥ 0, got "Infinity"');
  for (const bad of ['1,x', '1,,2', '1.5', '-1']) {
    assert.equal(rejection([`--seeds=${bad}`]), `--seeds must be comma-separated non-negative integers (1,2,3), got "${bad}"`);
  }
  assert.equal(rejection(['--mode', 'loop']), '--mode must be one of in-process, loopback, got "loop"');
});

test('positional arguments stay positional: all required, none extra', () => {
  const cmd: BenchCommand = { name: 'render', summary: 's', positionals: [{ name: 'REPORT.html', help: 'the report' }, { name: 'OUT.png', help: 'the screenshot' }] };
  const r = parseBenchArgs(cmd, ['a.html', 'b.png']);
  assert.ok(!r.help);
  assert.deepEqual(r.positionals, ['a.html', 'b.png']);
  assert.equal(rejection([], cmd), 'missing REPORT.html (the report)');
  assert.equal(rejection(['a.html'], cmd), 'missing OUT.png (the screenshot)');
  assert.equal(rejection(['a.html', 'b.png', 'c'], cmd), 'unexpected argument "c"');
  assert.equal(rejection(['a.html', '--no-such-flag', 'b.png'], cmd), 'unknown option --no-such-flag');
});

test('help shows the command line, the summary, each visible flag with its argument and default, and notes', () => {
  const text = benchHelp({ ...CMD, nodeFlags: '--expose-gc', notes: ['Environment: X=1 does y.'] });
  const lines = text.split('\n');
  assert.equal(lines[0], 'Usage: node --expose-gc --import tsx bench/demo.ts [options]');
  assert.match(text, /\nWhat the demo measures\.\nWhat it prints\.\n/);
  assert.match(text, /\n {2}--steps N +steps per model \(default: 100\)\n/);
  assert.match(text, /\n {2}--threads T +threads \(default: all cores\)\n/);
  assert.match(text, /\n {2}--noise NUMBER +noise multiplier \(default: 20\)\n/);
  assert.match(text, /\n {2}--seeds N,N,\.\.\. +seeds \(default: the scenario's\)\n/);
  assert.match(text, /\n {2}--mode in-process\|loopback\n {29}where sites run \(default: in-process\)\n/);
  assert.match(text, /\n {2}--out DIR +output folder\n {29}second line of help \(default: runs\/x\)\n/);
  assert.match(text, /\n {2}--quick +fewer cases\n/);
  assert.match(text, /\n {2}-h, --help +show this help and exit\n/);
  assert.doesNotMatch(text, /flooder/);
  assert.equal(lines.at(-1), 'Environment: X=1 does y.');
  const pos = benchHelp({ name: 'render', summary: 's', positionals: [{ name: 'REPORT.html', help: 'the report' }] });
  assert.equal(pos.split('\n')[0], 'Usage: node --import tsx bench/render.ts REPORT.html [options]');
  assert.match(pos, /\nArguments:\n {2}REPORT\.html +the report\n/);
});

test('benchPath is the path users type', () => {
  assert.equal(benchPath('simulate-scale'), 'bench/simulate-scale.ts');
});
