// A site against a malicious aggregator: its own policy and budget win over what a query or Welcome asks; a refused query computes and records nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SiteAgent, type CentralPolicy, type Query, type SiteSettings } from '../../../client/site-agent.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import type { OnnxTeacher } from '../../../shared/ml/inference.ts';
import { RdpAccountant } from '../../../shared/privacy/rdp-accountant.ts';
import type { PrivacyEvent } from '../../../shared/privacy/events.ts';
import { separableDataset } from './separable-csv.ts';

/**
 * The charge of a soft-label reply: σ = z·clip over √2·clip (replace-one) + 2⁻²⁰·√cols (the release
 * grid) + transport·√cols (float32 rounding before central noise: 2^(⌊log2(teachers·clip)⌋ − 23)).
 */
const softCharge = (z: number, clip: number, cols: number, rows: number, transport = 0) =>
  ({ type: 'gaussian' as const, noise_multiplier: (z * clip) / (Math.SQRT2 * clip + 2 ** -20 * Math.sqrt(cols) + transport * Math.sqrt(cols)), count: rows });

const settings = (policy: Partial<SiteSettings['policy']> = {}): SiteSettings => ({
  name: 'site-a', model: 'mlp', teachers: 1, seed: 1, device: 'cpu', threads: 1,
  local: { epochs: 0, batchSize: 16, lr: 1e-3, optimizer: 'adam' },
  digest: { epochs: 0, revisitEpochs: 0, temperature: 1, privateMix: 0 },
  policy: { clip: 0.5, localNoiseMultiplier: 0, ...policy },
});

/** A site with one stand-in teacher (logits favour class idx mod 3) that counts how often it is run. */
function site(policy: Partial<SiteSettings['policy']> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-policy-'));
  try {
    const privateData = separableDataset(dir, 'priv.csv', 12, 2);
    const publicSet = separableDataset(dir, 'pub.csv', 10, 3);
    const ledger = new SiteLedger();
    const agent = new SiteAgent(settings(policy), { privateData, publicSet }, ledger);
    const runs = { predict: 0 };
    const teacher = {
      inputName: 'x', sampleShape: [1, 4, 4], async release() {},
      async predict(features: Float32Array) {
        runs.predict++;
        const rows = features.length / 16;
        const logits = new Float32Array(rows * 3);
        for (let r = 0; r < rows; r++) logits[r * 3 + (r % 3)] = 20;
        return { logits };
      },
    } as unknown as OnnxTeacher;
    agent.useExternalTeacher(teacher);
    return { agent, ledger, runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let nextId = 0;
const query = (over: Partial<Query> = {}): Query => ({
  runId: 'r', round: 0, requestId: `r.q${nextId++}`, indices: Uint32Array.of(0, 1, 2, 3), replyKind: 'soft_labels', params: {}, ...over,
});

const epsilonOf = (events: PrivacyEvent[], delta: number): number => {
  const acc = new RdpAccountant();
  for (const e of events) acc.compose(e);
  return acc.getEpsilon(delta).epsilon;
};

test('over its own ε budget a site refuses (E_SITE_BUDGET_EXHAUSTED) before any teacher runs, and records nothing', async () => {
  // Local noise σ = 2·clip on softmax rows, whose replace-one sensitivity is √2·clip (+ grid slack).
  const one: PrivacyEvent = softCharge(2, 0.5, 3, 4);
  const e1 = epsilonOf([one], 1e-6);
  const e2 = epsilonOf([one, one], 1e-6);
  assert.ok(e2 > e1);
  const { agent, ledger, runs } = site({ localNoiseMultiplier: 2, epsilon: (e1 + e2) / 2, delta: 1e-6 });
  const first = await agent.answer(query(), { noiseMultiplier: 2 });
  assert.deepEqual(first.event, one);
  assert.equal(runs.predict, 1);
  // The run's looser δ and a promised huge central noise cannot buy the second answer.
  await assert.rejects(agent.answer(query(), { noiseMultiplier: 1e6 }), { code: 'E_SITE_BUDGET_EXHAUSTED' });
  await assert.rejects(agent.answer(query({ indices: Uint32Array.of(5, 6, 7, 8) }), { noiseMultiplier: 1e6 }), { code: 'E_SITE_BUDGET_EXHAUSTED' });
  assert.equal(runs.predict, 1, 'no teacher ran for a refused query');
  assert.equal(ledger.all().length, 1);
  assert.ok(ledger.epsilon(1e-6) <= (e1 + e2) / 2);
});

test("the site's policy wins over the aggregator's params and Welcome: clip is the smaller, local noise sets the charge", async () => {
  const { agent } = site({ clip: 0.5, localNoiseMultiplier: 0 });
  // The run asks a clip 200× the site's: rows stay within the site's 0.5.
  const a = await agent.answer(query({ params: { clip: 100, temperature: 1 } }), { noiseMultiplier: 3 });
  for (let r = 0; r < a.rows; r++) assert.ok(Math.hypot(...a.soft!.subarray(r * 3, r * 3 + 3)) <= 0.5 + 1e-6, `row ${r}`);
  assert.ok(Math.hypot(...a.soft!.subarray(0, 3)) > 0.49, 'the clip binds at the site value, not lower');
  const noisy = site({ localNoiseMultiplier: 1.5 });
  // A Welcome promising heavy central noise does not lower the charge of a site that adds its own.
  const b = await noisy.agent.answer(query(), { noiseMultiplier: 1000 } satisfies CentralPolicy);
  assert.deepEqual(b.event, softCharge(1.5, 0.5, 3, 4));
  assert.deepEqual(noisy.ledger.all()[0]!.event, b.event);
  // the ledger says who added the noise its event charges (audit compare holds the aggregator to central ones only)
  assert.equal(noisy.ledger.all()[0]!.noise, 'local');
  const plain = site({ localNoiseMultiplier: 0 });
  await plain.agent.answer(query(), { noiseMultiplier: 3 });
  assert.equal(plain.ledger.all()[0]!.noise, 'central');
});

test('queries the site cannot answer as asked are refused (E_QUERY_INVALID) before any teacher runs', async () => {
  const { agent, ledger, runs } = site({ localNoiseMultiplier: 1 });
  const bad: [Partial<Query>, RegExp][] = [
    [{ indices: Uint32Array.of(1, 10) }, /index 10 is outside the public set/],
    [{ indices: new Uint32Array(11) }, /11 indices; the public set has 10/],
    [{ indices: new Uint32Array(2_000_000) }, /2000000 indices/],
    [{ replyKind: 'logits' }, /reply kind "logits"/],
    [{ replyKind: 'votes' }, /reply kind "votes"/],
    [{ params: { temperature: 0 } }, /temperature must be a positive/],
    [{ params: { temperature: -1 } }, /temperature/],
    [{ params: { clip: 0 } }, /clip must be a positive/],
    [{ params: { clip: -0.5 } }, /clip/],
  ];
  for (const [over, why] of bad) {
    await assert.rejects(agent.answer(query(over), { noiseMultiplier: 1 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_QUERY_INVALID', JSON.stringify(over.params ?? over.replyKind ?? over.indices?.length));
      assert.match(e.message, why);
      return true;
    });
  }
  assert.equal(runs.predict, 0);
  assert.equal(ledger.all().length, 0);
});

test('a site that adds local noise refuses vote histograms (E_QUERY_REFUSED): they would leave it un-noised', async () => {
  const { agent, ledger, runs } = site({ localNoiseMultiplier: 1 });
  await assert.rejects(agent.answer(query({ replyKind: 'vote_histogram' }), { sigma1: 1e6, sigma2: 1e6, threshold: 0 }), { code: 'E_QUERY_REFUSED' });
  assert.equal(runs.predict, 0);
  assert.equal(ledger.all().length, 0);
  // Without local noise the same query is answered and charged.
  const plain = site({ localNoiseMultiplier: 0 });
  const v = await plain.agent.answer(query({ replyKind: 'vote_histogram' }), { sigma1: 4, sigma2: 4, threshold: 0 });
  assert.equal(v.votes!.length, 12);
  assert.equal(plain.ledger.all().length, 1);
});

test('the same public sample asked many times is charged every time: per duplicated row, and per query', async () => {
  const { agent, ledger } = site({ localNoiseMultiplier: 2 });
  const a = await agent.answer(query({ indices: Uint32Array.of(3, 3, 3, 3, 3) }), {});
  assert.deepEqual(a.event, softCharge(2, 0.5, 3, 5));
  const after1 = ledger.epsilon(1e-5);
  await agent.answer(query({ indices: Uint32Array.of(3) }), {});
  assert.equal(ledger.all().length, 2);
  assert.deepEqual(ledger.all().map((e) => e.rows), [5, 1]);
  assert.ok(ledger.epsilon(1e-5) > after1);
});
