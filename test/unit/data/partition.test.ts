// Partitioners: seeded determinism, disjoint full coverage, the skew each scheme promises, and parameter checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDataset } from '../../../shared/data/catalog.ts';
import {
  PARTITION_SCHEMES, type Partition, dirichletPartition, iidPartition, partitionLabels, quantityPartition, shardPartition, summarizePartition,
} from '../../../shared/data/partition.ts';
import { FedistillError } from '../../../shared/util/errors.ts';
import { SeededRng } from '../../../shared/util/prng.ts';

const mnist = loadDataset('mnist:train');
const input = (clients: number, seed: number) => ({ labels: mnist.labels, numClasses: 10, clients, seed });

/** Every index appears in at most one client (and, for these schemes, in exactly one). */
function assertDisjointCover(p: Partition, n: number): void {
  const seen = new Uint8Array(n);
  for (const c of p.clients) {
    for (let i = 1; i < c.indices.length; i++) assert.ok(c.indices[i - 1]! < c.indices[i]!, 'indices sorted and unique');
    for (const i of c.indices) seen[i]!++;
    assert.equal(c.labelCounts.reduce((a, b) => a + b, 0), c.indices.length);
  }
  assert.ok(seen.every((k) => k === 1), 'each sample in exactly one client');
}

test('every scheme is deterministic per seed, differs across seeds, and covers the data disjointly', () => {
  for (const scheme of PARTITION_SCHEMES) {
    const a = partitionLabels(scheme, input(20, 11), { alpha: 0.5, shards: 3, sigma: 1 });
    const b = partitionLabels(scheme, input(20, 11), { alpha: 0.5, shards: 3, sigma: 1 });
    const c = partitionLabels(scheme, input(20, 12), { alpha: 0.5, shards: 3, sigma: 1 });
    assert.deepEqual(a, b, `${scheme}: same seed`);
    assert.notDeepEqual(a.clients.map((x) => x.indices), c.clients.map((x) => x.indices), `${scheme}: other seed`);
    assert.equal(a.clients.length, 20);
    assert.equal(a.scheme, scheme);
    assertDisjointCover(a, mnist.length);
  }
});

test('dirichlet: alpha 0.1 is label-skewed (mean largest-class share > 0.5), alpha 100 is near IID (< 0.2)', () => {
  const shares = (alpha: number) => [1, 2, 3, 4, 5].map((seed) =>
    summarizePartition(dirichletPartition({ ...input(10, seed), alpha })).meanLargestClassShare);
  const skewed = shares(0.1);
  const mean = skewed.reduce((a, b) => a + b, 0) / skewed.length;
  assert.ok(mean > 0.5, `alpha 0.1: mean share ${mean} (${skewed})`);
  assert.ok(shares(100).every((s) => s < 0.2), `alpha 100: ${shares(100)}`);
  const p = dirichletPartition({ ...input(10, 1), alpha: 0.1, minSize: 500 });
  assert.ok(p.clients.every((c) => c.indices.length >= 500));
  assert.deepEqual(p.params, { alpha: 0.1, minSize: 500 });
});

test('iid: sizes differ by at most one and every client sees every class', () => {
  const p = iidPartition({ labels: mnist.labels.subarray(0, 1003), numClasses: 10, clients: 10, seed: 3 });
  const sizes = p.clients.map((c) => c.indices.length);
  assert.deepEqual(sizes, [101, 101, 101, 100, 100, 100, 100, 100, 100, 100]);
  assert.ok(p.clients.every((c) => c.labelCounts.every((n) => n > 0)));
});

test('shards: 100 clients × 2 shards of 300 give about two classes each (FedAvg non-IID)', () => {
  const p = shardPartition({ ...input(100, 1), shards: 2 });
  assert.ok(p.clients.every((c) => c.indices.length === 600));
  const s = summarizePartition(p);
  assert.ok(s.meanClassesPresent <= 2.5, `classes present ${s.meanClassesPresent}`);
  assert.ok(p.clients.every((c) => c.labelCounts.filter((n) => n > 0).length <= 4));
  // Shard counts that do not divide the data: sizes differ by at most one, nothing is dropped.
  const odd = shardPartition({ labels: mnist.labels.subarray(0, 1001), numClasses: 10, clients: 7, seed: 2, shards: 3 });
  assertDisjointCover(odd, 1001);
});

test('quantity: sigma 0 gives equal sizes, sigma 2 gives a wide spread with IID labels and the minimum size', () => {
  const flat = quantityPartition({ ...input(10, 4), sigma: 0 });
  assert.ok(flat.clients.every((c) => c.indices.length === 6000));
  const skew = quantityPartition({ ...input(50, 4), sigma: 2, minSize: 20 });
  const s = summarizePartition(skew);
  assert.ok(s.sizes.min >= 20);
  assert.ok(s.sizes.max > 5 * s.sizes.mean, `max ${s.sizes.max} vs mean ${s.sizes.mean}`);
  const big = skew.clients.filter((c) => c.indices.length > 2000);
  assert.ok(big.length > 0 && big.every((c) => Math.max(...c.labelCounts) / c.indices.length < 0.2));
});

test('invalid parameters are usage errors naming the parameter', () => {
  const small = { labels: Uint8Array.from(new SeededRng(1).permutation(50), (x) => x % 10), numClasses: 10, seed: 1 };
  const cases: [() => unknown, RegExp][] = [
    [() => dirichletPartition({ ...small, clients: 5, alpha: 0 }), /^alpha: .*> 0, got 0/],
    [() => dirichletPartition({ ...small, clients: 5, alpha: -1 }), /^alpha/],
    [() => dirichletPartition({ ...small, clients: 5, alpha: NaN }), /^alpha/],
    [() => iidPartition({ ...small, clients: 51 }), /^clients: 51 clients but only 50 samples/],
    [() => iidPartition({ ...small, clients: 0 }), /^clients: must be a positive integer/],
    [() => iidPartition({ ...small, clients: 2.5 }), /^clients/],
    [() => iidPartition({ ...small, clients: 2, seed: -1 }), /^seed/],
    [() => shardPartition({ ...small, clients: 10, shards: 6 }), /^shards: 10 clients × 6 shards = 60 shards but only 50 samples/],
    [() => shardPartition({ ...small, clients: 10, shards: 0 }), /^shards: .*positive integer/],
    [() => quantityPartition({ ...small, clients: 5, sigma: -0.5 }), /^sigma/],
    [() => quantityPartition({ ...small, clients: 5, sigma: 1, minSize: 11 }), /^minSize: 5 clients × 11 samples exceeds the 50 samples/],
    [() => iidPartition({ ...small, numClasses: 5, clients: 2 }), /^labels: label \d+ at index \d+ is not below numClasses 5/],
    [() => partitionLabels('fancy', { ...small, clients: 2 }), /unknown partition scheme "fancy"/],
  ];
  for (const [fn, message] of cases) {
    assert.throws(fn, (e: unknown) => e instanceof FedistillError && e.exitCode === 2 && message.test(e.message), String(message));
  }
  // Two classes and near-zero alpha: each class lands on one client, so 5 clients can never all get samples.
  const twoClasses = { ...small, labels: Uint8Array.from(small.labels, (x) => x % 2) };
  assert.throws(() => dirichletPartition({ ...twoClasses, clients: 5, alpha: 1e-4, minSize: 1 }),
    (e: FedistillError) => e.code === 'E_PARTITION_INFEASIBLE' && e.exitCode === 2 && /raise alpha/.test(e.message));
});

test('quantity: a huge sigma still assigns every sample once (weights do not overflow to NaN sizes)', () => {
  const labels = mnist.labels.subarray(0, 1000);
  for (const sigma of [300, 1000, 1e6]) {
    const p = quantityPartition({ labels, numClasses: 10, clients: 7, seed: 5, sigma });
    assertDisjointCover(p, labels.length);
    const s = summarizePartition(p);
    assert.equal(s.assigned, 1000, `sigma ${sigma}`);
    assert.equal(s.sizes.min, p.params.minSize, `sigma ${sigma}: the smallest sites get the minimum`);
    assert.ok(s.sizes.max > 900, `sigma ${sigma}: one site gets nearly everything`);
  }
});
