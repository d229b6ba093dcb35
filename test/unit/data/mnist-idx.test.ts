// MNIST idx decoding: truncated, mislabelled or missing files fail with the file named; subsets keep provenance.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mnistDir } from '../../../shared/data/data-paths.ts';
import { MNIST_SPLITS, readMnistSplit } from '../../../shared/data/mnist-idx.ts';
import { loadDataset } from '../../../shared/data/catalog.ts';
import { countLabels, subset } from '../../../shared/data/image-dataset.ts';
import { FedistillError } from '../../../shared/util/errors.ts';
import { runCli } from '../../../cli/main.ts';

const root = mkdtempSync(join(tmpdir(), 'fedistill-mnist-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A data root whose mnist/ holds the real test files, then lets `damage` edit one of them. */
function dataRoot(name: string, damage: (dir: string) => void): string {
  const dir = join(root, name, 'mnist');
  mkdirSync(dir, { recursive: true });
  const { images, labels } = MNIST_SPLITS.test;
  copyFileSync(join(mnistDir({}), images), join(dir, images));
  copyFileSync(join(mnistDir({}), labels), join(dir, labels));
  damage(dir);
  return join(root, name);
}

function failure(fn: () => unknown): FedistillError {
  try { fn(); } catch (e) { assert.ok(e instanceof FedistillError, String(e)); return e; }
  assert.fail('expected an error');
}

test('an intact copy decodes like the package', () => {
  const dir = dataRoot('intact', () => {});
  const raw = readMnistSplit(join(dir, 'mnist'), 'test');
  assert.equal(raw.count, 10000);
  assert.deepEqual(countLabels(raw.labels, 10), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.equal(loadDataset('mnist:test', { dataDir: dir }).hash, loadDataset('mnist:test').hash);
});

test('a truncated image file is E_DATA_CORRUPT naming the file and the expected size', () => {
  const dir = dataRoot('truncated', (d) => {
    const p = join(d, MNIST_SPLITS.test.images);
    writeFileSync(p, readFileSync(p).subarray(0, 5_000_000));
  });
  const e = failure(() => readMnistSplit(join(dir, 'mnist'), 'test'));
  assert.equal(e.code, 'E_DATA_CORRUPT');
  assert.match(e.message, /t10k-images-idx3-ubyte is corrupt: expected 7840016 bytes .* found 5000000 bytes/);
});

test('wrong magic numbers, counts and dims are each reported', () => {
  const cases: [string, string, (b: Buffer) => void, RegExp][] = [
    ['magic-img', MNIST_SPLITS.test.images, (b) => b.writeUInt32BE(2049, 0), /magic number 2051.*found 2049/],
    ['magic-lab', MNIST_SPLITS.test.labels, (b) => b.writeUInt32BE(2051, 0), /labels-idx1-ubyte is corrupt: expected magic number 2049/],
    ['count', MNIST_SPLITS.test.images, (b) => b.writeUInt32BE(9999, 4), /expected 10000 images, found 9999/],
    ['dims', MNIST_SPLITS.test.images, (b) => b.writeUInt32BE(27, 8), /expected 28x28 images, found 27x28/],
    ['label-value', MNIST_SPLITS.test.labels, (b) => b.writeUInt8(12, 8 + 5), /labels 0..9, found label 12 at index 5/],
  ];
  for (const [name, file, edit, message] of cases) {
    const dir = dataRoot(name, (d) => {
      const b = readFileSync(join(d, file));
      edit(b);
      writeFileSync(join(d, file), b);
    });
    const e = failure(() => loadDataset('mnist:test', { dataDir: dir }));
    assert.equal(e.code, 'E_DATA_CORRUPT', name);
    assert.match(e.message, message, name);
  }
});

test('a missing file is E_DATA_MISSING, also through FEDISTILL_DATA_DIR and the CLI (exit 1)', async () => {
  const dir = dataRoot('missing', (d) => rmSync(join(d, MNIST_SPLITS.test.labels)));
  const e = failure(() => loadDataset('mnist:test', { dataDir: dir }));
  assert.equal(e.code, 'E_DATA_MISSING');
  assert.match(e.message, /t10k-labels-idx1-ubyte/);
  const saved = process.env.FEDISTILL_DATA_DIR;
  process.env.FEDISTILL_DATA_DIR = dir;
  try {
    let err = '';
    const rc = await runCli(['data', 'inspect', 'mnist:test[0:10]'], { out: () => {}, err: (t) => { err += t + '\n'; } });
    assert.equal(rc, 1);
    assert.match(err, /MNIST test labels file not found: .*t10k-labels-idx1-ubyte.*\[E_DATA_MISSING\]/);
  } finally {
    if (saved === undefined) delete process.env.FEDISTILL_DATA_DIR;
    else process.env.FEDISTILL_DATA_DIR = saved;
  }
});

test('subset copies the chosen samples in order and records its parent', () => {
  const ds = loadDataset('mnist:test[100:200]');
  const sub = subset(ds, [5, 0, 99, 5]);
  assert.equal(sub.length, 4);
  assert.deepEqual([...sub.labels], [ds.labels[5], ds.labels[0], ds.labels[99], ds.labels[5]]);
  assert.deepEqual([...sub.features.subarray(784 * 2, 784 * 3)], [...ds.features.subarray(784 * 99, 784 * 100)]);
  assert.equal(sub.subsetOf?.spec, 'mnist:test[100:200]');
  assert.deepEqual([...sub.subsetOf!.indices], [5, 0, 99, 5]);
  assert.equal(subset(ds, [5, 0, 99, 5]).hash, sub.hash);
  assert.notEqual(subset(ds, [0, 5, 99, 5]).hash, sub.hash);
  assert.equal(failure(() => subset(ds, [100])).code, 'E_INVALID_PARAMETER');
  assert.equal(failure(() => subset(ds, [-1])).code, 'E_INVALID_PARAMETER');
  assert.ok(sub.features.every((x) => x >= 0 && x <= 1));
});
