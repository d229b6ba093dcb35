// GNMax, Confident-GNMax, LNMax, soft-label clipping and release, swing temperatures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoRng } from '../../../shared/privacy/rng.ts';
import { confidentGnmax, gnmax, lnmax, noisyVoteHistogram } from '../../../shared/privacy/noisy-max.ts';
import { clipL2Rows, gaussianSumRelease, localGaussianRelease, replaceOneSensitivity } from '../../../shared/privacy/soft-labels.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import { applyTemperatures, riskScores, swingTemperatures } from '../../../shared/privacy/swing-temperature.ts';
import { validatePrivacyEvent } from '../../../shared/privacy/events.ts';

/**
 * The charge of a soft-label reply: σ = z·clip over √2·clip (replace-one) + 2⁻²⁰·√cols (the release
 * grid) + transport·√cols (float32 rounding before central noise: 2^(⌊log2(teachers·clip)⌋ − 23)).
 */
const softCharge = (z: number, clip: number, cols: number, rows: number, transport = 0) =>
  ({ type: 'gaussian' as const, noise_multiplier: (z * clip) / (Math.SQRT2 * clip + 2 ** -20 * Math.sqrt(cols) + transport * Math.sqrt(cols)), count: rows });

const rng = new CryptoRng();

test('GNMax returns the argmax when the gap dwarfs σ, and spreads labels when votes tie', () => {
  for (let i = 0; i < 50; i++) assert.equal(gnmax([0, 1000, 0], 1, rng), 1);
  for (let i = 0; i < 20; i++) assert.equal(gnmax([0, 1000, 0], 1, rng, 'discrete'), 1);
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) seen.add(gnmax([5, 5, 5], 10, rng));
  assert.equal(seen.size, 3);
  assert.throws(() => gnmax([1, -2], 1, rng), /votes\[1\]/);
  assert.throws(() => gnmax([1, 2], 0, rng), /sigma/);
  assert.throws(() => gnmax([1, 2.5], 1, rng, 'discrete'), /integer/);
});

test('Confident-GNMax answers confident queries, refuses weak ones, and returns valid events to charge', () => {
  const params = { threshold: 200, sigma1: 5, sigma2: 5 };
  const yes = confidentGnmax([240, 10, 0], params, rng);
  assert.equal(yes.answered, true);
  assert.equal(yes.label, 0);
  assert.deepEqual(yes.events.map((e) => validatePrivacyEvent(e).type), ['pate_threshold', 'pate_gnmax']);
  const no = confidentGnmax([90, 80, 80], params, rng);
  assert.equal(no.answered, false);
  assert.equal(no.label, undefined);
  assert.deepEqual(no.events, [{ type: 'pate_threshold', sigma: 5, threshold: 200, max_vote: 90 }]);
  assert.throws(() => confidentGnmax([1, 2], { threshold: 1, sigma1: -1, sigma2: 1 }, rng), /sigma1/);
});

test('LNMax charges ε = 2/scale; noisy histograms are integers', () => {
  const r = lnmax([0, 100, 0], 0.5, rng);
  assert.equal(r.label, 1);
  assert.deepEqual(r.events, [{ type: 'pure', epsilon: 4 }]);
  const h = noisyVoteHistogram([10, 0, 5], 2, rng);
  assert.ok(h.every((v) => Number.isInteger(v)));
});

test('clipL2Rows bounds every row norm and leaves short rows alone', () => {
  const m = [3, 4, 0.3, 0.4];
  const c = clipL2Rows(m, 2, 2, 1);
  assert.ok(Math.abs(Math.hypot(c[0]!, c[1]!) - 1) < 1e-15);
  assert.deepEqual([c[2], c[3]], [0.3, 0.4]);
  assert.throws(() => clipL2Rows([1, NaN], 1, 2, 1), /matrix\[0\]\[1\]/);
  assert.throws(() => clipL2Rows([1, 2, 3], 2, 2, 1), /matrix/);
  assert.throws(() => clipL2Rows([1, 2], 1, 2, 0), /clip/);
});

test('central and local Gaussian release: clipped sum plus N(0,(z·C)²), charged as one Gaussian per row', () => {
  const replies = [[1, 0, 0, 1], [0, 10, 0, 1]];
  const n = 4000;
  let mean0 = 0, sq0 = 0;
  for (let i = 0; i < n; i++) {
    const r = gaussianSumRelease(replies, 2, 2, { clip: 1, noiseMultiplier: 2 }, rng);
    mean0 += r.values[1]! / n; // clipped: 0 + 1
    sq0 += (r.values[1]! - 1) ** 2 / n;
  }
  assert.ok(Math.abs(mean0 - 1) < 0.15, `mean ${mean0}`);
  assert.ok(Math.abs(Math.sqrt(sq0) - 2) < 0.15, `std ${Math.sqrt(sq0)}`);
  const r = gaussianSumRelease(replies, 2, 2, { clip: 1, noiseMultiplier: 2 }, rng);
  // σ = 2·clip over the replace-one sensitivity √2·clip of a probability row.
  assert.deepEqual(r.events, [softCharge(2, 1, 2, 2)]);
  assert.equal(r.noiseStd, 2);
  assert.equal(r.sensitivity, Math.SQRT2 + 2 ** -20 * Math.SQRT2);
  const l = localGaussianRelease([3, 4], 1, 2, { clip: 1, noiseMultiplier: 1 }, rng);
  assert.deepEqual(l.events, [softCharge(1, 1, 2, 1)]);
  // Signed rows (logits) move by up to 2·clip.
  const s = localGaussianRelease([-3, 4], 1, 2, { clip: 1, noiseMultiplier: 1, domain: 'signed' }, rng);
  assert.deepEqual(s.events, [{ type: 'gaussian', noise_multiplier: 1 / (2 + 2 ** -20 * Math.SQRT2), count: 1 }]);
  assert.throws(() => localGaussianRelease([-3, 4], 1, 2, { clip: 1, noiseMultiplier: 1 }, rng), /reply\[0\]\[0\].*domain 'signed'/);
  assert.throws(() => gaussianSumRelease(replies, 2, 2, { clip: 1, noiseMultiplier: 0 }, rng), /noise_multiplier/);
});

test('swing temperatures: riskier (more confident) samples get hotter, flatter labels', () => {
  const probs = [0.98, 0.01, 0.01, 0.4, 0.35, 0.25];
  const risk = riskScores(probs, 2, 3, 'confidence');
  assert.deepEqual(Array.from(risk), [0.98, 0.4]);
  const temps = swingTemperatures(probs, 2, 3, { risk: 'confidence', minTemperature: 1, maxTemperature: 5 });
  assert.ok(temps[0]! > temps[1]!);
  assert.ok(Math.abs(temps[0]! - (1 + 4 * 0.98)) < 1e-12);
  const soft = applyTemperatures(probs, 2, 3, temps);
  assert.ok(soft[0]! < 0.98 && Math.abs(soft[0]! + soft[1]! + soft[2]! - 1) < 1e-12);
  const same = applyTemperatures(probs, 2, 3, [1, 1]);
  probs.forEach((p, i) => assert.ok(Math.abs(same[i]! - p) < 1e-12));
  const margin = riskScores(probs, 2, 3, 'margin');
  assert.ok(Math.abs(margin[0]! - 0.97) < 1e-12);
  assert.throws(() => swingTemperatures(probs, 2, 3, { risk: 'confidence', minTemperature: 2, maxTemperature: 1 }), /maxTemperature/);
});

test('replace-one sensitivity of clipped rows: √2·C for probabilities, 2·C for signed rows, and both are attained', () => {
  const C = 0.7;
  assert.equal(replaceOneSensitivity(C), Math.SQRT2 * C);
  assert.equal(replaceOneSensitivity(C, 'signed'), 2 * C);
  const dist = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.hypot(...Array.from(a, (x, i) => x - b[i]!));
  // Orthogonal one-hot rows (two confident teachers that disagree) are √2·C apart after clipping:
  // an add/remove charge at sensitivity C would under-count the RDP by half.
  const u = clipL2Rows([1, 0, 0], 1, 3, C), v = clipL2Rows([0, 1, 0], 1, 3, C);
  assert.ok(Math.abs(dist(u, v) - Math.SQRT2 * C) < 1e-12);
  assert.ok(Math.abs(dist(clipL2Rows([3, -4], 1, 2, C), clipL2Rows([-3, 4], 1, 2, C)) - 2 * C) < 1e-12);
  // No pair of clipped non-negative rows is further apart than √2·C.
  const rng = new SeededRng(7);
  let worst = 0;
  for (let t = 0; t < 2000; t++) {
    const row = () => clipL2Rows(Array.from({ length: 5 }, () => (rng.next() < 0.5 ? 0 : rng.next() * 3)), 1, 5, C);
    worst = Math.max(worst, dist(row(), row()));
  }
  assert.ok(worst <= Math.SQRT2 * C + 1e-12 && worst > 1.2 * C, `worst ${worst}`);
});
