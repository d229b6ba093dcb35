// Fashion-MNIST: the package's contents, the fedistill train/test split, and the binary cache's corruption handling.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../../shared/data/catalog.ts';
import { countLabels } from '../../../shared/data/image-dataset.ts';
import { fashionMnistDir, dataCacheDir } from '../../../shared/data/data-paths.ts';
import { FASHION_MNIST_CACHE_FILE, fashionMnistSplit, loadFashionMnistSource } from '../../../shared/data/fashion-mnist.ts';
import { FedistillError } from '../../../shared/util/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'fedistill-fmnist-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('the package holds 70,000 images (70,002 entries, two empty), split 60,000 / 10,000, test balanced', () => {
  const src = loadFashionMnistSource(fashionMnistDir(), dataCacheDir());
  assert.equal(src.raw.count, 70000);
  assert.deepEqual(countLabels(src.raw.labels, 10), new Array(10).fill(7000));
  const train = loadDataset('fashion-mnist:train');
  const test = loadDataset('fashion-mnist:test');
  assert.equal(train.length, 60000);
  assert.equal(test.length, 10000);
  assert.deepEqual(countLabels(test.labels, 10), new Array(10).fill(1000));
  assert.deepEqual(countLabels(train.labels, 10), new Array(10).fill(6000));
  // Prefixes mix classes (the split order is shuffled, not grouped by class).
  assert.equal(countLabels(loadDataset('fashion-mnist:train[:1000]').labels, 10).filter((n) => n > 50).length, 10);
});

test('the split is deterministic, disjoint and covering, and its content hashes are pinned', () => {
  const src = loadFashionMnistSource(fashionMnistDir(), dataCacheDir());
  const a = fashionMnistSplit(src.raw.labels);
  const b = fashionMnistSplit(src.raw.labels);
  assert.deepEqual(a.train, b.train);
  assert.deepEqual(a.test, b.test);
  const seen = new Uint8Array(src.raw.count);
  for (const i of [...a.train, ...a.test]) seen[i]!++;
  assert.ok(seen.every((n) => n === 1), 'every image in exactly one split');
  // Changing these hashes changes every published fashion-mnist result: bump the split version instead.
  assert.equal(loadDataset('fashion-mnist:test').hash, '4f6016703c906afc7097ee4d645e3c9263bb7421da3f7297c435c28af6118cc6');
  assert.equal(loadDataset('fashion-mnist:train').hash, 'dfb79c4f0b644bdf70762236bcc0f7316fef60d4ad6744c980927672e67e4843');
});

/** A tiny fake fashion-mnist folder: class c has `rows` images whose pixels are all (c·10 + row). */
function fakeSource(name: string, rows = 3): string {
  const dir = join(root, name, 'fashion-mnist');
  mkdirSync(dir, { recursive: true });
  for (let c = 0; c < 10; c++) {
    const data: number[][] = Array.from({ length: rows }, (_, r) => new Array(784).fill(c * 10 + r));
    if (c === 0) data.splice(1, 0, []);
    writeFileSync(join(dir, `${c}.json`), JSON.stringify({ data }));
  }
  return dir;
}

test('the cache is written, reused, and rebuilt when corrupt, truncated or stale', () => {
  const dir = fakeSource('cache');
  const cache = join(root, 'cache', 'cache-dir');
  const first = loadFashionMnistSource(dir, cache);
  assert.equal(first.from, 'json');
  assert.equal(first.cacheNote, undefined);
  assert.equal(first.raw.count, 30);
  assert.equal(first.raw.pixels[784 * 4], 11);
  assert.deepEqual([...first.raw.labels.subarray(0, 4)], [0, 0, 0, 1]);

  const second = loadFashionMnistSource(dir, cache);
  assert.equal(second.from, 'cache');
  assert.deepEqual(second.raw.pixels, first.raw.pixels);
  assert.deepEqual(second.raw.labels, first.raw.labels);

  const file = join(cache, FASHION_MNIST_CACHE_FILE);
  const bytes = readFileSync(file);
  bytes[bytes.length - 100]! ^= 1;
  writeFileSync(file, bytes);
  const flipped = loadFashionMnistSource(dir, cache);
  assert.equal(flipped.from, 'json');
  assert.match(flipped.cacheNote!, /payload hash mismatch/);
  assert.deepEqual(flipped.raw.pixels, first.raw.pixels);
  assert.equal(loadFashionMnistSource(dir, cache).from, 'cache');

  writeFileSync(file, readFileSync(file).subarray(0, 1000));
  assert.match(loadFashionMnistSource(dir, cache).cacheNote!, /does not match header/);

  utimesSync(join(dir, '3.json'), new Date(2001, 1, 1), new Date(2001, 1, 1));
  const stale = loadFashionMnistSource(dir, cache);
  assert.equal(stale.from, 'json');
  assert.match(stale.cacheNote!, /source files changed/);
});

test('an unwritable cache folder only costs speed', () => {
  const dir = fakeSource('unwritable');
  const blocker = join(root, 'unwritable', 'a-file');
  writeFileSync(blocker, 'not a folder');
  const src = loadFashionMnistSource(dir, join(blocker, 'cache'));
  assert.equal(src.from, 'json');
  assert.match(src.cacheNote!, /cache not written/);
  assert.equal(src.raw.count, 30);
});

test('bad JSON content and missing class files are reported with the file named', () => {
  const dir = fakeSource('bad-row');
  writeFileSync(join(dir, '4.json'), JSON.stringify({ data: [new Array(784).fill(0), new Array(783).fill(0)] }));
  const cache = join(root, 'bad-row', 'cache');
  assert.throws(() => loadFashionMnistSource(dir, cache), (e: FedistillError) =>
    e.code === 'E_DATA_CORRUPT' && /4\.json is corrupt: entry 1 should be an array of 784 pixels, found 783 values/.test(e.message));
  writeFileSync(join(dir, '4.json'), JSON.stringify({ data: [new Array(784).fill(256)] }));
  assert.throws(() => loadFashionMnistSource(dir, cache), /entry 0 pixel 0 should be an integer 0..255, found 256/);
  writeFileSync(join(dir, '4.json'), '{"data": [');
  assert.throws(() => loadFashionMnistSource(dir, cache), (e: FedistillError) => e.code === 'E_DATA_CORRUPT');
  rmSync(join(dir, '7.json'));
  assert.throws(() => loadFashionMnistSource(dir, cache), (e: FedistillError) => e.code === 'E_DATA_MISSING' && /7\.json/.test(e.message));
});
