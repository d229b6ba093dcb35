// "Did you mean": edit distance, unique prefixes, and the hints commands and flags get from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closest, didYouMean, editDistance } from '../../../shared/util/suggest.ts';
import { runCli } from '../../../cli/main.ts';

function capture() {
  const io = { stdout: '', stderr: '', out(t: string) { io.stdout += t + '\n'; }, err(t: string) { io.stderr += t + '\n'; } };
  return io;
}

test('editDistance counts insertions, deletions and substitutions', () => {
  assert.equal(editDistance('', ''), 0);
  assert.equal(editDistance('abc', ''), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('verify', 'verfy'), 1);
  assert.equal(editDistance('json', 'jsno'), 2);
});

test('closest prefers a near typo, falls back to a unique prefix, and stays quiet otherwise', () => {
  const names = ['start', 'data', 'privacy', 'train', 'keys', 'server', 'client', 'audit', 'simulate'];
  assert.equal(closest('trian', names), 'train');
  assert.equal(closest('sim', names), 'simulate');
  assert.equal(closest('priv', names), 'privacy');
  assert.equal(closest('s', names), undefined, 'one letter is too little to guess from');
  assert.equal(closest('quantum', names), undefined);
  assert.equal(closest('c', ['cnn', 'cpu']), undefined, 'an ambiguous prefix gives no hint');
});

test('didYouMean formats the hint with the flag prefix', () => {
  assert.equal(didYouMean('epocs', ['epochs', 'batch'], '--'), ' (did you mean --epochs?)');
  assert.equal(didYouMean('zzz', ['epochs', 'batch'], '--'), '');
});

test('typos in commands, subcommands and flags get a hint on stderr and exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['trian'], /unknown command "trian" \(did you mean train\?\)/],
    [['privacy', 'epsiln'], /unknown command "epsiln" \(did you mean epsilon\?\)/],
    [['verify', 'x.jsonl'], /unknown command "verify" \(did you mean audit verify\?\)/],
    [['train', '--epoch', '1'], /unknown option --epoch \(did you mean --epochs\?\)/],
    [['train', '-json'], /unknown option -json \(did you mean --json\?\)/],
    [['train', '--hlep'], /unknown option --hlep \(did you mean --help\?\)/],
    [['--verison'], /unknown option --verison \(did you mean --version\?\)/],
    [['train', '--device', 'cpi'], /--device must be one of cpu, webgpu, cuda, auto; got "cpi" \(did you mean cpu\?\)/],
  ];
  for (const [argv, message] of cases) {
    const io = capture();
    assert.equal(await runCli(argv, io), 2, argv.join(' '));
    assert.match(io.stderr, message, argv.join(' '));
    assert.equal(io.stderr.trim().split('\n').length, 1, `one line for ${argv.join(' ')}`);
    assert.equal(io.stdout, '');
  }
});
