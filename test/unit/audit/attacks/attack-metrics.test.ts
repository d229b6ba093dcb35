// Known-answer tests for the attack metrics: AUC, Clopper–Pearson, ε lower bounds, canary exposure ranks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rocAuc, thresholdSweep } from '../../../../shared/audit/attacks/roc-auc.ts';
import { clopperPearson, regularizedIncompleteBeta } from '../../../../shared/audit/attacks/clopper-pearson.ts';
import { empiricalEpsilon, operatingPointBound } from '../../../../shared/audit/attacks/empirical-epsilon.ts';
import { canaryExposure, chanceExposure, secretRank } from '../../../../shared/audit/attacks/canary-exposure.ts';
import { generateCanaries, nearDuplicates } from '../../../../shared/audit/attacks/canaries.ts';
import { SeededRng } from '../../../../shared/util/prng.ts';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('rocAuc: perfect, reversed, tied and hand-counted cases', () => {
  assert.equal(rocAuc([3, 4, 5], [0, 1, 2]), 1);
  assert.equal(rocAuc([0, 1], [2, 3]), 0);
  assert.equal(rocAuc([1, 1], [1, 1, 1]), 0.5);
  // pairs (m, n): (2,1) win, (2,3) loss, (4,1) win, (4,3) win, (3 vs 3) tie → (3 + 0.5) / 6
  assert.equal(rocAuc([2, 4, 3], [1, 3]), (1 + 0 + 1 + 1 + 0.5 + 1) / 6);
  assert.throws(() => rocAuc([], [1]), /need at least one member/);
  assert.throws(() => rocAuc([NaN], [1]), /must be a finite number/);
});

test('rocAuc of identically distributed scores is near 0.5, of shifted Gaussians near Φ(d/√2)', () => {
  const rng = new SeededRng(5);
  const a = Array.from({ length: 4000 }, () => rng.normal());
  const b = Array.from({ length: 4000 }, () => rng.normal());
  close(rocAuc(a, b), 0.5, 0.02, 'same distribution');
  const shifted = a.map((x) => x + 1);
  close(rocAuc(shifted, b), 0.7602, 0.015, 'd = 1'); // Φ(1/√2)
});

test('thresholdSweep lists every operating point from nobody to everybody flagged', () => {
  const s = thresholdSweep([3, 1], [2, 0]);
  assert.deepEqual(s.map((c) => [c.truePositives, c.falsePositives]), [[0, 0], [1, 0], [1, 1], [2, 1], [2, 2]]);
});

test('regularizedIncompleteBeta matches closed forms', () => {
  close(regularizedIncompleteBeta(0.3, 1, 1), 0.3, 1e-12);
  close(regularizedIncompleteBeta(0.3, 2, 1), 0.09, 1e-12);
  close(regularizedIncompleteBeta(0.3, 1, 3), 1 - 0.7 ** 3, 1e-12);
  close(regularizedIncompleteBeta(0.5, 7, 7), 0.5, 1e-12);
});

test('clopperPearson matches published values', () => {
  const a = clopperPearson(5, 10, 0.95); // R binom.test(5, 10)
  close(a.lower, 0.187086, 1e-6); close(a.upper, 0.812914, 1e-6);
  const b = clopperPearson(0, 10, 0.95);
  assert.equal(b.lower, 0); close(b.upper, 1 - 0.025 ** (1 / 10), 1e-9);
  const c = clopperPearson(10, 10, 0.95);
  close(c.lower, 0.025 ** (1 / 10), 1e-9); assert.equal(c.upper, 1);
  const d = clopperPearson(50, 1000, 0.95); // R: 0.03733540 0.06539079
  close(d.lower, 0.0373354, 1e-6); close(d.upper, 0.0653908, 1e-6);
  assert.throws(() => clopperPearson(11, 10, 0.95), /successes/);
});

test('operatingPointBound: ε ≥ log((TPR_lo − δ)/FPR_hi), zero without evidence', () => {
  const b = operatingPointBound({ threshold: 0, truePositives: 900, members: 1000, falsePositives: 100, nonMembers: 1000 }, { delta: 0, confidence: 0.95 });
  const tpr = clopperPearson(900, 1000, 0.95).lower;
  const fpr = clopperPearson(100, 1000, 0.95).upper;
  close(b.epsilonLowerBound, Math.max(Math.log(tpr / fpr), Math.log((1 - fpr) / (1 - tpr))), 1e-12);
  assert.ok(b.epsilonLowerBound > 1.5 && b.epsilonLowerBound < Math.log(9));
  assert.equal(operatingPointBound({ threshold: 0, truePositives: 500, members: 1000, falsePositives: 500, nonMembers: 1000 }, { delta: 1e-5, confidence: 0.95 }).epsilonLowerBound, 0);
});

test('empiricalEpsilon: a strong attack proves ε > 1, a blind one proves nothing', () => {
  const rng = new SeededRng(9);
  const members = Array.from({ length: 2000 }, () => rng.normal() + 3);
  const non = Array.from({ length: 2000 }, () => rng.normal());
  const strong = empiricalEpsilon(members, non, { delta: 1e-5, confidence: 0.95, seed: 1 });
  assert.ok(strong.epsilonLowerBound > 1, `got ${strong.epsilonLowerBound}`);
  assert.deepEqual(strong.evaluation, { members: 1000, nonMembers: 1000 });
  const blind = empiricalEpsilon(Array.from({ length: 2000 }, () => rng.normal()), non, { delta: 1e-5, confidence: 0.95, seed: 1 });
  assert.ok(blind.epsilonLowerBound < 0.2, `got ${blind.epsilonLowerBound}`);
});

test('secretRank counts the sequences scoring strictly higher, by brute force', () => {
  const rng = new SeededRng(3);
  const classes = 4, L = 5;
  for (let trial = 0; trial < 20; trial++) {
    const lp = Array.from({ length: L * classes }, () => Math.log(rng.next()));
    const secret = Array.from({ length: L }, () => rng.int(classes));
    const target = secret.reduce((s, c, j) => s + lp[j * classes + c]!, 0);
    let higher = 0;
    for (let code = 0; code < classes ** L; code++) {
      let s = 0, x = code;
      for (let j = 0; j < L; j++) { s += lp[j * classes + (x % classes)]!; x = Math.floor(x / classes); }
      if (s > target + 1e-9) higher++;
    }
    assert.equal(secretRank(lp, classes, secret), higher + 1);
  }
});

test('canaryExposure: full bits for a memorized secret, 0 for the least likely one', () => {
  const classes = 10;
  const lp = new Array(3 * classes).fill(Math.log(0.05));
  const secret = [7, 2, 9];
  for (let j = 0; j < 3; j++) lp[j * classes + secret[j]!] = Math.log(0.55);
  close(canaryExposure(lp, classes, secret), 3 * Math.log2(10), 1e-12);
  const low = new Array(3 * classes).fill(Math.log(0.1));
  for (let j = 0; j < 3; j++) low[j * classes + secret[j]!] = Math.log(0.01);
  close(canaryExposure(low, classes, secret), 0, 1e-12);
  close(chanceExposure(10), Math.log2(10) - Math.log2(3628800) / 10, 1e-12);
  close(chanceExposure(1e9), 1 / Math.LN2, 1e-12);
});

test('canaries and near-duplicates are seeded, binary and flipped at the stated rate', () => {
  const c = generateCanaries({ count: 3, digits: 4, classes: 10, pixels: 784, density: 0.3, seed: 1 });
  assert.deepEqual(c, generateCanaries({ count: 3, digits: 4, classes: 10, pixels: 784, density: 0.3, seed: 1 }));
  assert.equal(c.patterns.length, 12 * 784);
  assert.ok(c.patterns.every((v) => v === 0 || v === 1));
  close(c.patterns.reduce((s, v) => s + v, 0) / c.patterns.length, 0.3, 0.02);
  const d = nearDuplicates(c, 5, 0.05, 'x');
  assert.equal(d.source.length, 60);
  let flipped = 0;
  for (let r = 0; r < 60; r++) for (let i = 0; i < 784; i++) if (d.features[r * 784 + i] !== c.patterns[d.source[r]! * 784 + i]) flipped++;
  close(flipped / (60 * 784), 0.05, 0.01);
});
