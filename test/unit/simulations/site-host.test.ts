// Hosted sites: answers and digests take turns past a limit per thread, and private features are computed from pixels on use (same values).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { featuresOnUse } from '../../../simulations/site-host.ts';
import { turns } from '../../../simulations/concurrency.ts';
import { loadDataset } from '../../../shared/data/catalog.ts';
import { subset } from '../../../shared/data/image-dataset.ts';

test('featuresOnUse: the same features, labels, hash and subset record as the dataset it wraps', () => {
  const pool = loadDataset('mnist:train[0:300]');
  const ds = subset(pool, [5, 1, 200, 7]);
  const lazy = featuresOnUse(ds);
  assert.deepEqual(lazy.features, ds.features);
  assert.equal(lazy.features, lazy.features, 'reads in one synchronous stretch share one array');
  assert.equal(lazy.hash, ds.hash);
  assert.deepEqual([lazy.spec, lazy.length, lazy.shape, lazy.numClasses, lazy.labels, lazy.subsetOf, lazy.pixels], [ds.spec, ds.length, ds.shape, ds.numClasses, ds.labels, ds.subsetOf, ds.pixels]);
  // a dataset without 8-bit pixels (a CSV) is kept as it is
  const noPixels = { ...ds, pixels: undefined };
  assert.equal(featuresOnUse(noPixels), noPixels);
});

test('turns: at most `limit` jobs run at once, started in the order they came, each with its own result or error', async () => {
  const tick = () => new Promise<void>((r) => setImmediate(r));
  const turn = turns(2);
  let running = 0, most = 0;
  const started: number[] = [];
  const job = (i: number) => turn(async () => {
    started.push(i);
    most = Math.max(most, ++running);
    for (let k = 0; k < 3; k++) await tick();
    running--;
    if (i === 3) throw new Error('job 3 failed');
    return i * 10;
  });
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(job));
  assert.equal(most, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [0, 10, 20, 'job 3 failed', 40, 50]);
  // a failed job gave its turn back: the limiter is still usable
  assert.equal(await turn(async () => 'after'), 'after');
});
