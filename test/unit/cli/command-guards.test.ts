// Refusals that save a newcomer a surprise: flags a command would ignore, a file train would overwrite, a "key file" that is none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { generateIdentity, writeIdentityFile } from '../../../shared/crypto/identity.ts';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-guards-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('data partition refuses a parameter of another scheme and --indices without --json (exit 2, before loading data)', async () => {
  const base = ['data', 'partition', '--clients', '5', '--seed', '1'];
  const cases: [string[], RegExp][] = [
    [['--scheme', 'iid', '--alpha', '0.3'], /--alpha applies to --scheme dirichlet, not iid/],
    [['--scheme', 'dirichlet', '--shards', '3'], /--shards applies to --scheme shards, not dirichlet/],
    [['--scheme', 'shards', '--sigma', '2'], /--sigma applies to --scheme quantity, not shards/],
    [['--scheme', 'iid', '--min-size', '3'], /--min-size applies to --scheme dirichlet or quantity, not iid/],
    [['--scheme', 'iid', '--indices'], /--indices adds each client's sample indices to the --json output; pass --json too/],
  ];
  for (const [extra, message] of cases) {
    const r = await run([...base, ...extra]);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.doesNotMatch(r.err, /loading/, 'refused before the dataset is loaded');
    assert.equal(r.out, '');
  }
  // A scheme's own parameters, and their defaults, still apply.
  const ok = await run(['data', 'partition', '--dataset', 'mnist:test[:200]', '--clients', '4', '--scheme', 'dirichlet', '--seed', '1', '--json']);
  assert.equal(ok.code, 0, ok.err);
  assert.deepEqual(JSON.parse(ok.out).params, { alpha: 0.5, min_size: 10 });
  const help = await run(['data', 'partition', '--help']);
  assert.match(help.out, /--alpha A +dirichlet: concentration \(small = skewed\) \(> 0, default: 0\.5\)/);
});

test('train refuses to overwrite --out or --checkpoint without --force (E_FILE_EXISTS, before training); resuming its own checkpoint is fine', async () => {
  await withDir(async (dir) => {
    const model = join(dir, 'model.onnx');
    const ckpt = join(dir, 'ckpt.bin');
    writeFileSync(model, 'a model');
    writeFileSync(ckpt, 'a checkpoint');
    let r = await run(['train', '--out', model, '--json']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.out).error.code, 'E_FILE_EXISTS');
    assert.match(r.err, /--out: .*model\.onnx already exists; choose another path or pass --force/);
    r = await run(['train', '--checkpoint', ckpt]);
    assert.equal(r.code, 1);
    assert.match(r.err, /--checkpoint: .*ckpt\.bin already exists.*\[E_FILE_EXISTS\]/);
    // Past the file checks, an unknown dataset is the next (and fast) failure: the checks let these through.
    for (const argv of [['--out', model, '--force'], ['--checkpoint', ckpt, '--resume', ckpt]]) {
      r = await run(['train', '--dataset', 'no-such-set', ...argv]);
      assert.match(r.err, /E_UNKNOWN_DATASET/, `${argv.join(' ')}: ${r.err}`);
    }
  });
});

test('keys show judges the content before the mode: a file that is no key says so; a key readable by others is still refused', async () => {
  await withDir(async (dir) => {
    const notes = join(dir, 'notes.md');
    writeFileSync(notes, '# not a key\n', { mode: 0o644 });
    chmodSync(notes, 0o644);
    let r = await run(['keys', 'show', notes]);
    assert.equal(r.code, 1);
    assert.match(r.err, /notes\.md is not JSON; expected a file written by "fedistill keys generate" \[E_KEY_FILE_INVALID\]/);
    assert.doesNotMatch(r.err, /chmod/);
    const key = join(dir, 'site.key');
    writeIdentityFile(key, generateIdentity());
    chmodSync(key, 0o644);
    r = await run(['keys', 'show', key]);
    assert.equal(r.code, 1);
    assert.match(r.err, /chmod 600 .*site\.key \[E_KEY_FILE_MODE\]/);
    chmodSync(key, 0o600);
    assert.equal((await run(['keys', 'show', key])).code, 0);
  });
});
