// Support gate: public neighbours, pooling of the noised sum, and the support risk that withholds what one site alone backs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoRng, type RandomSource } from '../../../shared/privacy/rng.ts';
import { poolOverNeighbours, publicNeighbours, supportGate } from '../../../shared/privacy/support-gate.ts';
import { riskScores } from '../../../shared/privacy/swing-temperature.ts';
import { gaussianSumRelease } from '../../../shared/privacy/soft-labels.ts';
import { releaseTeacherLabels } from '../../../shared/audit/attacks/teacher-release.ts';
import { SeededRng } from '../../../shared/util/prng.ts';

/** Reproducible noise for tests only (anyone with the seed could remove it). */
function seededNoise(seed: string): CryptoRng {
  const rng = new SeededRng(seed);
  const source: RandomSource = { fill(words) { for (let i = 0; i < words.length; i++) words[i] = rng.nextU32(); } };
  return new CryptoRng(source);
}

const DIM = 64;
const CLASSES = 4;

/** `copies` near-duplicates (5% of pixels flipped) of a random binary pattern. */
function cluster(rng: SeededRng, copies: number): Float32Array {
  const base = Array.from({ length: DIM }, () => (rng.next() < 0.3 ? 1 : 0));
  const out = new Float32Array(copies * DIM);
  for (let c = 0; c < copies; c++) for (let i = 0; i < DIM; i++) out[c * DIM + i] = rng.next() < 0.05 ? 1 - base[i]! : base[i]!;
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** A row of probabilities with `p` on `cls` and the rest spread evenly. */
function row(cls: number, p: number): number[] {
  return Array.from({ length: CLASSES }, (_, c) => (c === cls ? p : (1 - p) / (CLASSES - 1)));
}

test('publicNeighbours: a row\'s near-duplicates come first, never the row itself, and reruns agree', () => {
  const rng = new SeededRng('neighbours');
  const features = concat([cluster(rng, 4), cluster(rng, 4), cluster(rng, 4)]);
  const nb = publicNeighbours(features, 12, 3);
  for (let r = 0; r < 12; r++) {
    const mates = [0, 1, 2, 3].map((j) => Math.floor(r / 4) * 4 + j).filter((q) => q !== r).sort();
    assert.deepEqual([...nb.subarray(r * 3, r * 3 + 3)].sort(), mates, `row ${r}`);
  }
  assert.deepEqual(publicNeighbours(features, 12, 3), nb);
  assert.equal(publicNeighbours(features, 12, 0).length, 0);
  assert.throws(() => publicNeighbours(features, 12, 12), /neighbours/);
  assert.throws(() => publicNeighbours(features.subarray(1), 12, 3), /multiple of 12 rows/);
});

test('pooling shrinks per-row noise by √(effective rows): variance ≈ (w² + k) / (w + k)²', () => {
  const rows = 4000, k = 15, w = 3;
  const noise = seededNoise('pool');
  const sum = Float64Array.from({ length: rows }, () => noise.gaussian(1));
  const nb = new Int32Array(rows * k);
  for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) nb[r * k + j] = (r + 1 + j) % rows;
  const pooled = poolOverNeighbours(sum, rows, 1, nb, k, w);
  const variance = pooled.reduce((s, x) => s + x * x, 0) / rows;
  const expected = (w * w + k) / (w + k) ** 2;
  assert.ok(Math.abs(variance / expected - 1) < 0.15, `variance ${variance} vs ${expected}`);
  const constant = poolOverNeighbours(new Float64Array(rows).fill(2.5), rows, 1, nb, k, w);
  assert.ok(constant.every((x) => Math.abs(x - 2.5) < 1e-12), 'a constant sum pools to itself');
});

test('support risk ranks a canary that only one site backs above every consensus row; confidence does not', () => {
  // 4 sites. Ordinary rows: 6 clusters of 8 similar images, all sites agree (p = 0.9).
  // Canary rows: 5 near-duplicates of one random pattern; site 1 memorised it (p = 0.999 on the
  // secret class 3), the other sites guess different classes with moderate confidence.
  const rng = new SeededRng('canary-risk');
  const ordinary = Array.from({ length: 6 }, () => cluster(rng, 8));
  const canary = cluster(rng, 5);
  const features = concat([...ordinary, canary]);
  const rows = 53;
  const teachers = [0, 1, 2, 3].map((t) => {
    const probs: number[] = [];
    for (let r = 0; r < 48; r++) probs.push(...row(Math.floor(r / 8) % CLASSES, 0.9));
    for (let r = 0; r < 5; r++) probs.push(...(t === 0 ? row(3, 0.999) : row(t - 1, 0.7)));
    return Float32Array.from(probs);
  });
  const noisy = gaussianSumRelease(teachers, rows, CLASSES, { clip: 1, noiseMultiplier: 1 }, seededNoise('canary-risk')).values;
  const gate = supportGate(noisy, rows, CLASSES, 4, 1, features, { minSupport: 2.5, neighbours: 7, selfWeight: 3 });
  const ordinaryRisk = Math.max(...gate.risk.subarray(0, 48));
  const canaryRisk = Math.min(...gate.risk.subarray(48));
  assert.ok(canaryRisk > ordinaryRisk, `canary risk ${canaryRisk} vs ordinary ≤ ${ordinaryRisk}`);
  assert.deepEqual([...gate.released.subarray(48)], [0, 0, 0, 0, 0], 'every canary copy withheld');
  assert.ok(gate.released.subarray(0, 48).every((x) => x === 1), 'every consensus row released');
  // The old risk score (the holder's top probability) calls the canary *safer* than the digits it is hidden among.
  const confidence = riskScores(teachers[0]!, rows, CLASSES, 'confidence');
  assert.ok(Math.min(...confidence.subarray(48)) > Math.max(...confidence.subarray(0, 48)));
});

test('releaseTeacherLabels with a support gate: same ε events, withheld rows uniform, needs noise and public features', () => {
  const rng = new SeededRng('release');
  const features = concat([cluster(rng, 6), cluster(rng, 6)]);
  const rows = 12;
  const teachers = [0, 1, 2].map(() => Float32Array.from(Array.from({ length: rows }, (_, r) => row(r < 6 ? 0 : 1, r < 6 ? 0.95 : 0.3)).flat()));
  const noised = { clip: 1, noiseMultiplier: 0.5, entropyReductionTemperature: 0.1 };
  const gated = releaseTeacherLabels(teachers, rows, CLASSES, { ...noised, supportGate: { minSupport: 2, neighbours: 5, selfWeight: 3 } }, seededNoise('r'), features);
  const plain = releaseTeacherLabels(teachers, rows, CLASSES, noised, seededNoise('r'));
  assert.deepEqual(gated.events, plain.events, 'the gate is post-processing: it charges nothing more');
  assert.deepEqual([...gated.released!], [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
  for (let r = 6; r < rows; r++) assert.deepEqual([...gated.targets.subarray(r * CLASSES, (r + 1) * CLASSES)], [0.25, 0.25, 0.25, 0.25]);
  assert.ok(gated.targets[0]! > 0.99, 'released rows are sharpened towards their top class');
  assert.throws(() => releaseTeacherLabels(teachers, rows, CLASSES, { supportGate: { minSupport: 2, neighbours: 5, selfWeight: 3 } }, seededNoise('r'), features), /noised sum only/);
  assert.throws(() => releaseTeacherLabels(teachers, rows, CLASSES, { ...noised, supportGate: { minSupport: 2, neighbours: 5, selfWeight: 3 } }, seededNoise('r')), /public rows' features/);
  assert.throws(() => releaseTeacherLabels(teachers, rows, CLASSES, { ...noised, supportGate: { minSupport: 0, neighbours: 5, selfWeight: 3 } }, seededNoise('r'), features), /min_support/);
});
