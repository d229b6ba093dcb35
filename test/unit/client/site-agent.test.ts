// The site agent: CSV private data, local policy on replies, its own ledger, digest, external ONNX teacher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCsvDataset } from '../../../shared/data/csv-dataset.ts';
import { SiteAgent, type SiteSettings } from '../../../client/site-agent.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { loadOnnxTeacher } from '../../../shared/ml/inference.ts';
import { separableCsv as csv, separableDataset } from './separable-csv.ts';

/**
 * The charge of a soft-label reply: σ = z·clip over √2·clip (replace-one) + 2⁻²⁰·√cols (the release
 * grid) + transport·√cols (float32 rounding before central noise: 2^(⌊log2(teachers·clip)⌋ − 23)).
 */
const softCharge = (z: number, clip: number, cols: number, rows: number, transport = 0) =>
  ({ type: 'gaussian' as const, noise_multiplier: (z * clip) / (Math.SQRT2 * clip + 2 ** -20 * Math.sqrt(cols) + transport * Math.sqrt(cols)), count: rows });


const settings = (over: Partial<SiteSettings> = {}): SiteSettings => ({
  name: 'site-a', model: 'mlp', teachers: 3, seed: 1, device: 'cpu', threads: 1,
  local: { epochs: 3, batchSize: 16, lr: 3e-3, optimizer: 'adam' },
  digest: { epochs: 1, revisitEpochs: 0, temperature: 1, privateMix: 30 },
  policy: { clip: 0.5, localNoiseMultiplier: 0 },
  ...over,
});

test('CSV private data: parsed with a header, errors name file, line and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-csv-'));
  try {
    const p = join(dir, 'd.csv');
    writeFileSync(p, csv(30, 1));
    const ds = loadCsvDataset(p, { shape: [1, 4, 4], classes: 3 });
    assert.equal(ds.length, 30);
    assert.deepEqual([...ds.labels.subarray(0, 4)], [0, 1, 2, 0]);
    assert.match(ds.hash, /^[0-9a-f]{64}$/);
    writeFileSync(p, '0,1,2\n');
    assert.throws(() => loadCsvDataset(p, { shape: [1, 4, 4], classes: 3 }), /d\.csv:1: 3 fields; expected 1 label \+ 16 features/);
    writeFileSync(p, `7,${Array(16).fill(0).join(',')}\n`);
    assert.throws(() => loadCsvDataset(p, { shape: [1, 4, 4], classes: 3 }), /label "7" is not an integer in 0\.\.2/);
    writeFileSync(p, `1,${Array(15).fill(0).join(',')},abc\n`);
    assert.throws(() => loadCsvDataset(p, { shape: [1, 4, 4], classes: 3 }), /feature 16 "abc"/);
    assert.throws(() => loadCsvDataset(join(dir, 'missing.csv'), { shape: [1, 4, 4], classes: 3 }), /E_DATA_MISSING|cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a site answers through its local policy, records each release once, and learns from consensus', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-site-'));
  try {
    const privateData = separableDataset(dir, 'priv.csv', 90, 2);
    const publicSet = separableDataset(dir, 'pub.csv', 30, 3);
    const ledger = new SiteLedger(join(dir, 'ledger.jsonl'));
    const agent = new SiteAgent(settings(), { privateData, publicSet, evalSet: publicSet }, ledger);
    await agent.prepare();
    assert.ok(agent.baselineAccuracy! > 0.8, `baseline ${agent.baselineAccuracy}`);
    const q = { runId: 'r', round: 0, requestId: 'r.r0.site-a', indices: Uint32Array.of(0, 1, 2, 3), replyKind: 'soft_labels' as const, params: { temperature: 1, clip: 1 } };
    const a = await agent.answer(q, { noiseMultiplier: 2 });
    assert.equal(a.rows, 4);
    assert.equal(a.teachers, 3);
    // Each teacher row is clipped to min(site 0.5, run 1) before the sum over 3 teachers.
    for (let r = 0; r < 4; r++) {
      const row = a.soft!.subarray(r * 3, r * 3 + 3);
      assert.ok(Math.hypot(...row) <= 3 * 0.5 + 1e-5);
    }
    // Central σ = 2·clip on softmax rows (replace-one sensitivity √2·clip + grid slack), at the site's clip 0.5.
    assert.deepEqual(a.event, softCharge(2, 0.5, 3, 4, 2 ** -23)); // 3 teachers × 0.5: entries < 2, float32 step 2⁻²³
    // the same request again: SiteClient re-sends the reply it kept; the agent never computes a second, unrecorded release
    await assert.rejects(agent.answer(q, { noiseMultiplier: 2 }), { code: 'E_QUERY_REPLAYED' });
    const v = await agent.answer({ ...q, requestId: 'r.r1.site-a', round: 1, replyKind: 'vote_histogram' }, { sigma1: 150, sigma2: 40, threshold: 200 });
    for (let r = 0; r < 4; r++) assert.equal(v.votes!.subarray(r * 3, r * 3 + 3).reduce((x, y) => x + y, 0), 3);
    const lines = readFileSync(join(dir, 'ledger.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 2, 'the repeated request is recorded once');
    assert.ok(ledger.epsilon(1e-5) > 0);
    // The ledger reloads and keeps its chain.
    assert.equal(new SiteLedger(join(dir, 'ledger.jsonl')).all().length, 2);
    writeFileSync(join(dir, 'ledger.jsonl'), lines[1] + '\n' + lines[0] + '\n');
    assert.throws(() => new SiteLedger(join(dir, 'ledger.jsonl')), /E_LEDGER_CORRUPT|hash chain/);
    // Without central noise and without local noise, a site refuses to release soft labels.
    await assert.rejects(agent.answer({ ...q, requestId: 'x' }, {}), /local_noise_multiplier/);
    const m = await agent.digest(1e-5, { indices: Uint32Array.of(0, 1, 2), cols: 3, soft: Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1) });
    assert.equal(m.consensus_samples, 3);
    assert.ok(agent.lastAccuracy! > 0.8);
    // Metrics computed on private data stay at the site unless policy.share_metrics says otherwise.
    assert.deepEqual(Object.keys(m).sort(), ['consensus_samples', 'ledger_epsilon']);
    agent.settings.policy.shareMetrics = true;
    const shared = await agent.digest(1e-5, { indices: Uint32Array.of(0), cols: 3, soft: Float32Array.of(1, 0, 0) });
    assert.ok(shared.accuracy! > 0.8);
    assert.ok(Number.isFinite(shared.distill_loss));
    // Its exported student works as an external, inference-only teacher for another site.
    await agent.exportStudent(join(dir, 'student.onnx'));
    const other = new SiteAgent(settings({ name: 'site-b', teachers: 1 }), { privateData, publicSet }, new SiteLedger());
    other.useExternalTeacher(await loadOnnxTeacher(join(dir, 'student.onnx'), { sampleShape: [1, 4, 4] }));
    const e = await other.answer({ ...q, requestId: 'y', replyKind: 'vote_histogram' }, { sigma1: 1, sigma2: 1, threshold: 1 });
    assert.equal(e.teachers, 1);
    let correct = 0;
    for (let r = 0; r < 4; r++) if (e.votes![r * 3 + publicSet.labels[r]!] === 1) correct++;
    assert.ok(correct >= 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
