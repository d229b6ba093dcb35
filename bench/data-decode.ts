// Benchmark: cold decode of MNIST (idx → Float32Array) and Fashion-MNIST first (JSON) vs cached load. Prints one JSON object.
// Run: node --import tsx bench/data-decode.ts   (target: mnist_train_decode_ms < 2000)
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearDatasetCache, loadDataset } from '../shared/data/catalog.ts';
import { fashionMnistDir, mnistDir } from '../shared/data/data-paths.ts';
import { loadFashionMnistSource } from '../shared/data/fashion-mnist.ts';
import { readMnistSplit } from '../shared/data/mnist-idx.ts';
import { partitionLabels } from '../shared/data/partition.ts';
import { benchArgs } from './bench-args.ts';

benchArgs({
  name: 'data-decode',
  summary: `Cold decode of MNIST (idx → Float32Array) and Fashion-MNIST's first load (JSON) vs its cached load
(docs/data.md); target mnist_train_decode_ms < 2000. Progress on stderr, one JSON object on stdout.`,
});

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const v = fn();
  return [v, Math.round((performance.now() - t) * 10) / 10];
}

const figures: Record<string, unknown> = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model };

process.stderr.write('MNIST train: cold decode…\n');
clearDatasetCache();
const [train, decodeMs] = time(() => {
  const ds = loadDataset('mnist:train');
  void ds.features;
  return ds;
});
figures.mnist_train_decode_ms = decodeMs;
figures.mnist_train_read_validate_ms = time(() => readMnistSplit(mnistDir(), 'train'))[1];
figures.mnist_train_hash_ms = time(() => train.hash)[1];
clearDatasetCache();
figures.mnist_test_decode_ms = time(() => loadDataset('mnist:test').features)[1];
loadDataset('mnist:train');
figures.mnist_train_warm_slice_ms = time(() => loadDataset('mnist:train[10000:20000]').length)[1];
figures.partition_dirichlet_100_clients_ms = time(() =>
  partitionLabels('dirichlet', { labels: train.labels, numClasses: 10, clients: 100, seed: 1 }, { alpha: 0.5 }))[1];

const cacheDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-cache-'));
try {
  process.stderr.write('Fashion-MNIST: first load from JSON (writes a fresh cache)…\n');
  const [first, jsonMs] = time(() => loadFashionMnistSource(fashionMnistDir(), cacheDir));
  figures.fashion_mnist_first_load_ms = jsonMs;
  figures.fashion_mnist_first_load_from = first.from;
  figures.fashion_mnist_cache_note = first.cacheNote ?? null;
  const [second, cachedMs] = time(() => loadFashionMnistSource(fashionMnistDir(), cacheDir));
  figures.fashion_mnist_cached_load_ms = cachedMs;
  figures.fashion_mnist_cached_load_from = second.from;
  figures.fashion_mnist_images = second.raw.count;
  clearDatasetCache();
  figures.fashion_mnist_train_from_cache_with_split_ms = time(() => loadDataset('fashion-mnist:train', { cacheDir }).features)[1];
} finally {
  rmSync(cacheDir, { recursive: true, force: true });
}

figures.target_mnist_train_decode_ms = 2000;
figures.ok = (figures.mnist_train_decode_ms as number) < 2000;
process.stdout.write(JSON.stringify(figures) + '\n');
