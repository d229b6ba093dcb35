// `fedistill data`: inspect's label counts, partition's JSON and table, and exit code 2 for invalid parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../../cli/main.ts';

async function run(argv: string[]): Promise<{ rc: number; out: string; err: string }> {
  const io = { out: '', err: '' };
  const rc = await runCli(argv, { out: (t) => { io.out += t + '\n'; }, err: (t) => { io.err += t + '\n'; } });
  return { rc, ...io };
}

test('data inspect mnist --json reports the official label counts per split', async () => {
  const r = await run(['data', 'inspect', 'mnist', '--json']);
  assert.equal(r.rc, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.dataset, 'mnist');
  assert.deepEqual(j.shape, [1, 28, 28]);
  const byName = Object.fromEntries(j.splits.map((s: { split: string }) => [s.split, s]));
  assert.deepEqual(byName.train.label_counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  assert.deepEqual(byName.test.label_counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.equal(byName.train.length, 60000);
  assert.match(byName.test.hash, /^[0-9a-f]{64}$/);
});

test('data inspect of a slice and data list print readable text', async () => {
  const r = await run(['data', 'inspect', 'mnist:test[9000:]']);
  assert.equal(r.rc, 0, r.err);
  assert.match(r.out, /mnist:test\[9000:10000\]: 1000 samples, sha256 [0-9a-f]{64}/);
  const l = await run(['data', 'list']);
  assert.match(l.out, /fashion-mnist:test +10000/);
  const h = await run(['data', '--help']);
  assert.equal(h.rc, 0);
  assert.match(h.out, /list .*\n.*inspect .*\n.*partition /);
});

test('data partition --json gives sizes, histograms and a summary; indices only with --indices', async () => {
  const argv = ['data', 'partition', '--dataset', 'mnist:test', '--clients', '10', '--scheme', 'dirichlet', '--alpha', '0.1', '--seed', '3', '--json'];
  const r = await run(argv);
  assert.equal(r.rc, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.dataset, 'mnist:test');
  assert.deepEqual(j.params, { alpha: 0.1, min_size: 10 });
  assert.equal(j.clients.length, 10);
  assert.equal(j.summary.assigned, 10000);
  assert.equal(j.clients.reduce((a: number, c: { size: number }) => a + c.size, 0), 10000);
  assert.ok(j.summary.mean_largest_class_share > 0.3);
  assert.equal(j.clients[0].indices, undefined);
  assert.match(j.command, /--scheme dirichlet --alpha 0.1 --seed 3$/);
  const again = await run(argv);
  assert.equal(again.out, r.out, 'same flags, same output');
  const withIdx = JSON.parse((await run([...argv, '--indices'])).out);
  assert.equal(withIdx.clients[0].indices.length, withIdx.clients[0].size);
});

test('data partition prints a per-client table in human mode', async () => {
  const r = await run(['data', 'partition', '--dataset', 'mnist:test[:1000]', '--clients', '4', '--scheme', 'shards', '--shards', '2', '--seed', '1']);
  assert.equal(r.rc, 0, r.err);
  assert.match(r.out, /^client +size +top% +c0/m);
  assert.equal(r.out.split('\n').filter((l) => /^ +\d+ +250 /.test(l)).length, 4);
  assert.match(r.out, /reproduce: fedistill data partition --dataset mnist:test\[0:1000\] --clients 4 --scheme shards --shards 2 --seed 1/);
});

test('invalid partition parameters exit with code 2 and name the parameter', async () => {
  const base = ['data', 'partition', '--dataset', 'mnist:test[:100]', '--seed', '1'];
  const cases: [string[], RegExp][] = [
    [['--clients', '10', '--scheme', 'dirichlet', '--alpha', '0'], /alpha: .*> 0/],
    [['--clients', '101', '--scheme', 'iid'], /clients: 101 clients but only 100 samples/],
    [['--clients', '10', '--scheme', 'shards', '--shards', '11'], /shards: 10 clients × 11 shards/],
    [['--clients', '10', '--scheme', 'quantity', '--sigma', '-1'], /sigma/],
    [['--clients', '2.5', '--scheme', 'iid'], /--clients must be an integer/],
    [['--clients', '10', '--scheme', 'random'], /--scheme must be one of iid, dirichlet, shards, quantity/],
    [['--clients', '10'], /missing --scheme/],
  ];
  for (const [extra, message] of cases) {
    const r = await run([...base, ...extra]);
    assert.equal(r.rc, 2, `${extra.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.equal(r.out, '');
  }
  const badSpec = await run(['data', 'partition', '--dataset', 'mnist:test[0:20000]', '--clients', '2', '--scheme', 'iid', '--seed', '1']);
  assert.equal(badSpec.rc, 2);
  assert.match(badSpec.err, /E_BAD_SPLIT_SPEC/);
  const unknown = await run(['data', 'inspect', 'cifar10']);
  assert.equal(unknown.rc, 2);
  assert.match(unknown.err, /unknown dataset "cifar10"; available: mnist, fashion-mnist.*\[E_UNKNOWN_DATASET\]/);
});
