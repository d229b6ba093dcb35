// Split specs: the grammar, python-like half-open ranges, and the errors for bad or unknown names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSplitSpec, parseSplitSpec, resolveRange } from '../../../shared/data/split-spec.ts';
import { listDatasets, loadDataset, sharedSamples, splitRange } from '../../../shared/data/catalog.ts';
import { FedistillError } from '../../../shared/util/errors.ts';

function code(fn: () => unknown): string {
  try { fn(); } catch (e) { assert.ok(e instanceof FedistillError, String(e)); return e.code; }
  assert.fail('expected an error');
}

test('parseSplitSpec reads bare names, splits and ranges with omitted bounds', () => {
  assert.deepEqual(parseSplitSpec('mnist'), { dataset: 'mnist', split: undefined, start: undefined, end: undefined });
  assert.deepEqual(parseSplitSpec('mnist:train'), { dataset: 'mnist', split: 'train', start: undefined, end: undefined });
  assert.deepEqual(parseSplitSpec('mnist:test[0:9000]'), { dataset: 'mnist', split: 'test', start: 0, end: 9000 });
  assert.deepEqual(parseSplitSpec('fashion-mnist:train[:5000]'), { dataset: 'fashion-mnist', split: 'train', start: undefined, end: 5000 });
  assert.deepEqual(parseSplitSpec('mnist:test[9000:]'), { dataset: 'mnist', split: 'test', start: 9000, end: undefined });
  assert.deepEqual(parseSplitSpec('MNIST:Test[-1000:]'), { dataset: 'mnist', split: 'test', start: -1000, end: undefined });
});

test('malformed specs are E_BAD_SPLIT_SPEC usage errors', () => {
  for (const bad of ['', 'mnist:', ':train', 'mnist:test[0:9000', 'mnist:test[5]', 'mnist:test[a:b]', 'mnist:test[0:1:2]', 'mnist test']) {
    assert.equal(code(() => parseSplitSpec(bad)), 'E_BAD_SPLIT_SPEC', JSON.stringify(bad));
  }
  try { parseSplitSpec('mnist:test[5]'); } catch (e) {
    assert.equal((e as FedistillError).exitCode, 2);
    assert.match((e as Error).message, /single index.*\[i:i\+1\]/);
  }
});

test('resolveRange resolves negative and omitted bounds and rejects out-of-range or empty ranges', () => {
  assert.deepEqual(resolveRange(parseSplitSpec('m:s'), 100), [0, 100]);
  assert.deepEqual(resolveRange(parseSplitSpec('m:s[-10:]'), 100), [90, 100]);
  assert.deepEqual(resolveRange(parseSplitSpec('m:s[10:-10]'), 100), [10, 90]);
  for (const bad of ['m:s[0:101]', 'm:s[101:]', 'm:s[50:50]', 'm:s[60:50]', 'm:s[-101:]']) {
    assert.equal(code(() => resolveRange(parseSplitSpec(bad), 100)), 'E_BAD_SPLIT_SPEC', bad);
  }
  assert.equal(formatSplitSpec(parseSplitSpec('m:s[:]'), [0, 100], 100), 'm:s');
  assert.equal(formatSplitSpec(parseSplitSpec('m:s[-10:]'), [90, 100], 100), 'm:s[90:100]');
});

test('loadDataset slices are views with normalised specs, and adjacent slices tile the split', () => {
  const whole = loadDataset('mnist:test');
  const head = loadDataset('mnist:test[0:9000]');
  const tail = loadDataset('mnist:test[9000:10000]');
  assert.equal(whole.spec, 'mnist:test');
  assert.equal(head.spec, 'mnist:test[0:9000]');
  assert.equal(loadDataset('mnist:test[-1000:]').spec, 'mnist:test[9000:10000]');
  assert.equal(loadDataset('mnist:test[:]').spec, 'mnist:test');
  assert.equal(head.length + tail.length, whole.length);
  assert.deepEqual([...head.labels, ...tail.labels], [...whole.labels]);
  assert.deepEqual(head.shape, [1, 28, 28]);
  assert.equal(head.numClasses, 10);
  assert.equal(tail.features.length, 1000 * 784);
  assert.equal(tail.features[0], whole.features[9000 * 784]);
  assert.equal(tail.features.buffer, whole.features.buffer, 'slice features are views of one per-process array');
  assert.equal(tail.pixels!.buffer, whole.pixels!.buffer);
  const copy = { ...tail };
  assert.equal(copy.features.length, 1000 * 784, 'spread keeps the lazy features');
  assert.equal(copy.hash, tail.hash);
  assert.notEqual(head.hash, tail.hash);
  assert.match(head.hash, /^[0-9a-f]{64}$/);
  assert.equal(loadDataset('mnist:test[0:9000]').hash, head.hash);
});

test('unknown datasets and splits name what exists', () => {
  assert.equal(code(() => loadDataset('cifar10:train')), 'E_UNKNOWN_DATASET');
  assert.throws(() => loadDataset('cifar10:train'), /available: mnist, fashion-mnist/);
  assert.throws(() => loadDataset('fashion-mnst:train'), /unknown dataset "fashion-mnst" \(did you mean fashion-mnist\?\)/);
  assert.equal(code(() => loadDataset('mnist:validation')), 'E_UNKNOWN_SPLIT');
  assert.throws(() => loadDataset('mnist:validation'), /mnist:train, mnist:test/);
  assert.equal(code(() => loadDataset('mnist')), 'E_UNKNOWN_SPLIT');
  assert.equal(code(() => loadDataset('mnist:test[0:10001]')), 'E_BAD_SPLIT_SPEC');
  const names = listDatasets().map((d) => `${d.name}:${d.splits.map((s) => `${s.name}=${s.length}`).join(',')}`);
  assert.deepEqual(names, ['mnist:train=60000,test=10000', 'fashion-mnist:train=60000,test=10000']);
});

test('sharedSamples finds the common range of two specs from the catalogue alone, negative bounds included', () => {
  assert.deepEqual(splitRange('mnist:test[-1000:]'), { dataset: 'mnist', split: 'test', start: 9000, end: 10000 });
  assert.equal(sharedSamples('mnist:train[0:600]', 'mnist:train[500:700]'), 'mnist:train[500:600]');
  assert.equal(sharedSamples('mnist:test[-1000:]', 'mnist:test[9500:9600]'), 'mnist:test[9500:9600]');
  assert.equal(sharedSamples('mnist:train', 'MNIST:train[:]'), 'mnist:train');
  assert.equal(sharedSamples('mnist:train[0:600]', 'mnist:train[600:700]'), undefined, 'adjacent half-open ranges are disjoint');
  assert.equal(sharedSamples('mnist:train[0:600]', 'mnist:test[0:600]'), undefined, 'another split');
  assert.equal(sharedSamples('mnist:test[0:600]', 'fashion-mnist:test[0:600]'), undefined, 'another dataset');
  assert.equal(code(() => sharedSamples('mnist:val[0:10]', 'mnist:test')), 'E_UNKNOWN_SPLIT');
  assert.equal(code(() => sharedSamples('mnist:test[0:20000]', 'mnist:test')), 'E_BAD_SPLIT_SPEC');
});
