// Strategies: consensus math, noise calibration, privacy events and failure handling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftLabelAverage } from '../../../server/strategies/soft-label-average.ts';
import { CentralGaussian } from '../../../server/strategies/central-gaussian.ts';
import { Pate } from '../../../server/strategies/pate.ts';
import type { SiteReply, StrategyContext } from '../../../server/strategies/strategy.ts';
import { samplePublicIndices } from '../../../server/strategies/strategy.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import { CryptoRng } from '../../../shared/privacy/rng.ts';
import { chargeMismatch } from '../../../shared/audit/mechanism-record.ts';

/**
 * The charge of a soft-label reply: σ = z·clip over √2·clip (replace-one) + 2⁻²⁰·√cols (the release
 * grid) + transport·√cols (float32 rounding before central noise: 2^(⌊log2(teachers·clip)⌋ − 23)).
 */
const softCharge = (z: number, clip: number, cols: number, rows: number, transport = 0) =>
  ({ type: 'gaussian' as const, noise_multiplier: (z * clip) / (Math.SQRT2 * clip + 2 ** -20 * Math.sqrt(cols) + transport * Math.sqrt(cols)), count: rows });

function ctx(seed = 1): StrategyContext {
  return { publicSize: 100, numClasses: 3, rng: new SeededRng(seed), noise: new CryptoRng() };
}

function soft(site: string, rows: number[][]): SiteReply {
  return { site, rows: rows.length, cols: rows[0]!.length, teachers: 1, soft: Float32Array.from(rows.flat()) };
}

test('public indices are distinct, sorted, seeded', () => {
  const a = samplePublicIndices(1000, 50, new SeededRng(7));
  const b = samplePublicIndices(1000, 50, new SeededRng(7));
  const c = samplePublicIndices(1000, 50, new SeededRng(8));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(new Set(a).size, 50);
  for (let i = 1; i < a.length; i++) assert.ok(a[i]! > a[i - 1]!);
});

test('FedMD averages soft labels; DS-FL sharpens them by entropy reduction', () => {
  const fedmd = new SoftLabelAverage({ queriesPerRound: 2 });
  const dsfl = new SoftLabelAverage({ queriesPerRound: 2, entropyReductionTemperature: 0.1 });
  assert.equal(fedmd.name, 'fedmd');
  assert.equal(dsfl.name, 'dsfl');
  const plan = { round: 0, indices: Uint32Array.of(3, 9), replyKind: 'soft_labels' as const, params: {} };
  const replies = [soft('a', [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]), soft('b', [[0.4, 0.5, 0.1], [0, 0.4, 0.6]])];
  const m = fedmd.aggregate(plan, replies, [], ctx())!;
  assert.deepEqual(Array.from(m.soft!, (v) => Math.round(v * 1000) / 1000), [0.5, 0.4, 0.1, 0.1, 0.3, 0.6]);
  assert.deepEqual(m.events, []);
  const d = dsfl.aggregate(plan, replies, [], ctx())!;
  // softmax([0.5,0.4,0.1]/0.1) = softmax([5,4,1])
  const z = Math.exp(5) + Math.exp(4) + Math.exp(1);
  assert.ok(Math.abs(d.soft![0]! - Math.exp(5) / z) < 1e-6);
  assert.ok(d.soft![0]! > m.soft![0]!, 'sharper than the mean');
});

test('central Gaussian wrapper clips, adds calibrated noise and charges one Gaussian per row', () => {
  const inner = new SoftLabelAverage({ queriesPerRound: 400 });
  const dp = new CentralGaussian(inner, { clip: 1, noiseMultiplier: 2 });
  const c = ctx();
  c.publicSize = 400;
  const plan = dp.configureRound(0, c);
  assert.equal(plan.params.clip, 1);
  const rows = plan.indices.length;
  // A site that sends rows of norm 10 is clipped to norm 1.
  const big = { site: 'x', rows, cols: 3, teachers: 1, soft: new Float32Array(rows * 3).fill(10 / Math.sqrt(3)) };
  const r = dp.aggregate(plan, [big], [], c)!;
  // σ = 2·clip; replacing one teacher moves its non-negative row by ≤ √2·clip: multiplier 2/√2.
  assert.deepEqual(r.events, [softCharge(2, 1, 3, rows, 2 ** -23)]);
  assert.deepEqual(r.mechanism, { kind: 'gaussian_rows', rows, cols: 3, clip: 1, noise_std: 2, sensitivity: Math.SQRT2 + 2 ** -20 * Math.sqrt(3) + 2 ** -23 * Math.sqrt(3), domain: 'probabilities', grid: 2 ** -20, transport_ulp: 2 ** -23, adjacency: 'replace-one' });
  assert.equal(chargeMismatch(r.mechanism!, r.events), undefined);
  // Mean of entries ≈ 1/√3 (clipped), spread ≈ noise std 2.
  let mean = 0, sq = 0;
  for (const v of r.soft!) { mean += v; sq += v * v; }
  mean /= r.soft!.length;
  const sd = Math.sqrt(sq / r.soft!.length - mean * mean);
  assert.ok(Math.abs(mean - 1 / Math.sqrt(3)) < 0.2, `mean ${mean}`);
  assert.ok(Math.abs(sd - 2) < 0.15, `sd ${sd}`);
  assert.throws(() => new CentralGaussian(inner, { clip: 0, noiseMultiplier: 1 }), /clip/);
});

test('PATE answers confident queries, refuses split ones, and charges realized events', () => {
  const pate = new Pate({ queriesPerRound: 2, threshold: 30, sigma1: 1e-3, sigma2: 1e-3 });
  const plan = { round: 0, indices: Uint32Array.of(0, 1), replyKind: 'vote_histogram' as const, params: {} };
  // Row 0: 40 votes for class 2. Row 1: 20/20 split, below threshold.
  const a: SiteReply = { site: 'a', rows: 2, cols: 3, teachers: 20, votes: Int32Array.of(0, 0, 20, 10, 10, 0) };
  const b: SiteReply = { site: 'b', rows: 2, cols: 3, teachers: 20, votes: Int32Array.of(0, 0, 20, 10, 10, 0) };
  const r = pate.aggregate(plan, [a, b], [{ site: 'c', reason: 'timeout' }], ctx())!;
  assert.deepEqual(Array.from(r.labels!), [2, -1]);
  assert.equal(r.metrics.answered, 1);
  assert.equal(r.metrics.teachers, 40);
  assert.equal(r.metrics.failures, 1);
  assert.deepEqual(r.events.map((e) => e.type), ['pate_threshold', 'pate_gnmax', 'pate_threshold']);
  assert.equal(pate.aggregate(plan, [], [], ctx()), null);
  assert.throws(() => pate.aggregate(plan, [{ ...a, votes: Int32Array.of(1) }], [], ctx()), /wrong shape/);
});

test('PATE charges data-independent events by default: no vote count reaches the ledger; data-dependent ones carry them', () => {
  const plan = { round: 0, indices: Uint32Array.of(0, 1), replyKind: 'vote_histogram' as const, params: {} };
  const reply: SiteReply = { site: 'a', rows: 2, cols: 3, teachers: 40, votes: Int32Array.of(0, 3, 37, 20, 20, 0) };
  const options = { queriesPerRound: 2, threshold: 30, sigma1: 1e-3, sigma2: 1e-3 };
  const independent = new Pate(options).aggregate(plan, [reply], [], ctx())!;
  assert.deepEqual(independent.events, [{ type: 'pate_threshold', sigma: 1e-3 }, { type: 'pate_gnmax', sigma: 1e-3 }, { type: 'pate_threshold', sigma: 1e-3 }]);
  assert.ok(!JSON.stringify(independent.events).includes('37'), 'no vote count in the charged events');
  const dependent = new Pate({ ...options, accounting: 'data-dependent' }).aggregate(plan, [reply], [], ctx())!;
  assert.deepEqual(dependent.events.map((e) => e.type), ['pate_threshold', 'pate_gnmax', 'pate_threshold']);
  assert.deepEqual((dependent.events[1] as { votes: number[] }).votes, [0, 3, 37]);
  assert.equal((dependent.events[0] as { max_vote: number }).max_vote, 37);
});

test('central Gaussian sets negative entries to 0 before clipping, so a signed reply cannot exceed the √2·clip bound it is charged at', () => {
  const dp = new CentralGaussian(new SoftLabelAverage({ queriesPerRound: 1 }), { clip: 1, noiseMultiplier: 1e-9 });
  const c = ctx();
  c.publicSize = 1;
  const plan = dp.configureRound(0, c);
  // Two sites' rows u = (1, 0, 0) and v = (−1, 0, 0) would be 2·clip apart; clamped, v is (0, 0, 0).
  const r = dp.aggregate(plan, [{ site: 'a', rows: 1, cols: 3, teachers: 1, soft: Float32Array.of(-1, 0, 0) }], [], c)!;
  assert.ok(Math.abs(r.soft![0]!) < 1e-6, `negative entry reached the sum: ${r.soft![0]}`);
});
