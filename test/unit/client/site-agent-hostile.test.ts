// The site agent's own guards, without a transport: a request id answered once, a ledger without a finite bound, reply rows defined for any temperature and logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SiteAgent, type Query, type SiteSettings } from '../../../client/site-agent.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { temperatureSoftmax, weightRows } from '../../../client/reply-rows.ts';
import { softmaxRows, type OnnxTeacher } from '../../../shared/ml/inference.ts';
import { separableCsv, separableDataset } from './separable-csv.ts';
import { loadCsvDataset } from '../../../shared/data/csv-dataset.ts';

function site(policy: Partial<SiteSettings['policy']>, ledger = new SiteLedger()) {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-agent-hostile-'));
  try {
    const agent = new SiteAgent({
      name: 'site-a', model: 'mlp', teachers: 1, seed: 1, device: 'cpu', threads: 1,
      local: { epochs: 0, batchSize: 16, lr: 1e-3, optimizer: 'adam' }, digest: { epochs: 0, revisitEpochs: 0, temperature: 1, privateMix: 0 },
      policy: { clip: 0.5, localNoiseMultiplier: 0, ...policy },
    }, { privateData: separableDataset(dir, 'priv.csv', 12, 2), publicSet: separableDataset(dir, 'pub.csv', 10, 3) }, ledger);
    const runs = { predict: 0 };
    agent.useExternalTeacher({
      inputName: 'x', sampleShape: [1, 4, 4], async release() {},
      async predict(f: Float32Array) { runs.predict++; return { logits: new Float32Array((f.length / 16) * 3).fill(1) }; },
    } as unknown as OnnxTeacher);
    return { agent, ledger, runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const query = (over: Partial<Query> = {}): Query => ({ runId: 'r', round: 0, requestId: 'r.q0', indices: Uint32Array.of(0, 1), replyKind: 'soft_labels', params: {}, ...over });

test('a request id already in the ledger is refused by the agent itself (E_QUERY_REPLAYED) before any teacher runs: a second noise draw would go unrecorded', async () => {
  const { agent, ledger, runs } = site({ localNoiseMultiplier: 1 });
  await agent.answer(query(), {});
  await assert.rejects(agent.answer(query({ indices: Uint32Array.of(0, 1, 2, 3, 4, 5) }), {}), { code: 'E_QUERY_REPLAYED' });
  await assert.rejects(agent.answer(query(), {}), { code: 'E_QUERY_REPLAYED' });
  assert.equal(runs.predict, 1);
  assert.equal(ledger.all().length, 1);
});

test('a ledger holding an event with no finite ε (written before such charges were refused) is ∞, not a crash: budgets refuse, metrics leave it out', async () => {
  const ledger = new SiteLedger();
  ledger.record({ runId: 'r', round: 0, requestId: 'old', replyKind: 'soft_labels', rows: 1, event: { type: 'gaussian', noise_multiplier: 1e-295, count: 1 } });
  assert.equal(ledger.epsilon(1e-5), Infinity);
  const { agent, runs } = site({ localNoiseMultiplier: 1, epsilon: 10 }, ledger);
  await assert.rejects(agent.answer(query({ requestId: 'new' }), {}), { code: 'E_SITE_BUDGET_EXHAUSTED' });
  assert.equal(runs.predict, 0);
  const m = await agent.digest(1e-5, { indices: Uint32Array.of(0), cols: 3, soft: Float32Array.of(1, 0, 0) });
  assert.deepEqual(m, { consensus_samples: 1 });
});

test('reply rows: softmax(logits/T) as before for ordinary T; argmax at a T that overflows; uniform for a row that is not finite; bad weights count as 0', () => {
  const logits = Float32Array.of(2, -1, 0.5, 40, 5, -3, NaN, 1, 2, Infinity, 0, 0);
  const plain = softmaxRows(logits.slice(0, 6), 3);
  const ours = temperatureSoftmax(logits, 4, 3, 1);
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(ours[i]! - plain[i]!) < 1e-6, `${i}`);
  assert.deepEqual(Array.from(ours.subarray(6)), [1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3]);
  assert.deepEqual(Array.from(temperatureSoftmax(logits, 2, 3, 1e-37)), [1, 0, 0, 1, 0, 0]);
  assert.deepEqual(Array.from(temperatureSoftmax(Float32Array.of(3, 3, 1), 1, 3, 1e-300)), [0.5, 0.5, 0]);
  const rows = Float64Array.of(0.5, 0.5, 0.2, 0.8, 1, 0);
  weightRows(rows, 2, Float32Array.of(0.5, NaN, 7));
  assert.deepEqual(Array.from(rows), [0.25, 0.25, 0, 0, 1, 0]);
});

test('a public or eval set whose samples are not the private data\'s size (or classes) is refused before anything trains (E_SHAPE_MISMATCH)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-agent-shape-'));
  try {
    const settings: SiteSettings = {
      name: 'site-a', model: 'mlp', teachers: 1, seed: 1, device: 'cpu', threads: 1,
      local: { epochs: 0, batchSize: 16, lr: 1e-3, optimizer: 'adam' }, digest: { epochs: 0, revisitEpochs: 0, temperature: 1, privateMix: 0 },
      policy: { clip: 0.5, localNoiseMultiplier: 0 },
    };
    const path = join(dir, 'priv.csv');
    writeFileSync(path, separableCsv(12, 2));
    const matching = separableDataset(dir, 'pub.csv', 10, 3);
    // the same 16 values read as 15 (a wrong data.shape): the public set's rows were sliced at the wrong width, silently
    const narrowPath = join(dir, 'narrow.csv');
    writeFileSync(narrowPath, separableCsv(12, 2).split('\n').map((l) => (l.includes(',') && !l.startsWith('label') ? l.slice(0, l.lastIndexOf(',')) : l)).join('\n'));
    const narrow = loadCsvDataset(narrowPath, { shape: [1, 3, 5], classes: 3 });
    assert.throws(() => new SiteAgent(settings, { privateData: narrow, publicSet: matching }, new SiteLedger()),
      { code: 'E_SHAPE_MISMATCH', message: /^public_set: .* has samples of shape \[1,4,4\] \(16 values\), but the private data's are \[1,3,5\] \(15\): fix data\.shape/ });
    const fourClasses = loadCsvDataset(path, { shape: [1, 4, 4], classes: 4 });
    assert.throws(() => new SiteAgent(settings, { privateData: fourClasses, publicSet: matching }, new SiteLedger()), { code: 'E_SHAPE_MISMATCH', message: /^public_set: .* has 3 classes, but the private data has 4/ });
    assert.throws(() => new SiteAgent(settings, { privateData: matching, publicSet: matching, evalSet: narrow }, new SiteLedger()), { code: 'E_SHAPE_MISMATCH', message: /^eval_set: / });
    // a flat [16] private set beside a 1×4×4 public set holds the same values per sample: accepted
    const flat = loadCsvDataset(path, { shape: [16], classes: 3 });
    new SiteAgent(settings, { privateData: flat, publicSet: matching, evalSet: matching }, new SiteLedger());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
