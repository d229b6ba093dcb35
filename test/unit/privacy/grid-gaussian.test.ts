// Fixed-point release noise: values land on the grid exactly, the noiseless value's low bits do not survive, the spread is σ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addGridGaussian, float32Step, gridRoundingSlack, RELEASE_GRID } from '../../../shared/privacy/grid-gaussian.ts';
import { CryptoRng, type RandomSource } from '../../../shared/privacy/rng.ts';
import { SeededRng } from '../../../shared/util/prng.ts';

/** Deterministic on purpose: the same draws for two inputs show what the output depends on. */
function seededNoise(seed: string): CryptoRng {
  const rng = new SeededRng(seed);
  const source: RandomSource = { fill(words) { for (let i = 0; i < words.length; i++) words[i] = rng.nextU32(); } };
  return new CryptoRng(source);
}

test('grid noise: every released value is an exact multiple of the grid', () => {
  const v = Float64Array.from({ length: 2000 }, (_, i) => Math.sin(i) * 3.3);
  addGridGaussian(v, 0.5, new CryptoRng());
  for (const x of v) assert.ok(Number.isInteger(x / RELEASE_GRID), `${x} is off the grid`);
});

test('grid noise: two noiseless values on the same grid cell give the same release (the low bits are gone)', () => {
  // 0.3 and its float neighbour round to one grid point; x + gaussian(σ) in floating point would
  // differ between them, which is how the noiseless value leaks (Mironov 2012).
  const a = Float64Array.of(0.3, 0.3, 0.3), b = Float64Array.of(0.3 + 2 ** -40, 0.3 - 2 ** -42, 0.3 + 2 ** -30);
  addGridGaussian(a, 1, seededNoise('cell'));
  addGridGaussian(b, 1, seededNoise('cell'));
  assert.deepEqual(b, a);
});

test('grid noise: mean and standard deviation are those of N(0, σ²) (100k draws)', () => {
  const n = 100_000, sigma = 0.25;
  const v = new Float64Array(n).fill(1);
  addGridGaussian(v, sigma, new CryptoRng());
  let mean = 0, sq = 0;
  for (const x of v) mean += x / n;
  for (const x of v) sq += (x - mean) ** 2 / n;
  // standard errors: σ/√n = 8e-4 for the mean, σ/√(2n) = 5.6e-4 for the std
  assert.ok(Math.abs(mean - 1) < 4e-3, `mean ${mean}`);
  assert.ok(Math.abs(Math.sqrt(sq) - sigma) < 3e-3, `std ${Math.sqrt(sq)}`);
});

test('grid noise: slack and limits', () => {
  assert.equal(gridRoundingSlack(4), 2 * RELEASE_GRID);
  assert.throws(() => addGridGaussian(Float64Array.of(2 ** 40), 1, new CryptoRng()), /too large for the release grid/);
  assert.throws(() => addGridGaussian(Float64Array.of(NaN), 1, new CryptoRng()), /values\[0\]: must be finite, got NaN/);
  assert.throws(() => addGridGaussian(Float64Array.of(1), 0, new CryptoRng()), /noise std/);
});

test('float32Step bounds the float32 rounding of every value up to max (the transport slack of central releases)', () => {
  assert.equal(float32Step(1), 2 ** -23);
  assert.equal(float32Step(1.5), 2 ** -23);
  assert.equal(float32Step(16), 2 ** -19);
  assert.equal(float32Step(0), 0);
  const rng = new SeededRng('f32');
  for (const max of [0.7, 1, 3, 10, 66]) {
    for (let i = 0; i < 2000; i++) {
      const x = rng.next() * max;
      assert.ok(Math.abs(Math.fround(x) - x) <= float32Step(max) / 2, `${x} (max ${max})`);
    }
  }
});
