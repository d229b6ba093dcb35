// Noise samplers: distribution tests (Kolmogorov–Smirnov), exactness of the discrete Gaussian, no Math.random.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { CryptoRng, type RandomSource } from '../../../shared/privacy/rng.ts';
import { exactRational } from '../../../shared/privacy/discrete-gaussian.ts';
import { logNdtr } from '../../../shared/privacy/special-functions.ts';
import { confidentGnmax, gnmax, lnmax, noisyVoteHistogram } from '../../../shared/privacy/noisy-max.ts';
import { gaussianSumRelease } from '../../../shared/privacy/soft-labels.ts';

/** KS critical value at p ≈ 1e-6 (√(−½ ln(p/2))/√n): a real bug fails, chance failures do not happen in practice. */
const ksCritical = (n: number) => Math.sqrt(-0.5 * Math.log(1e-6 / 2)) / Math.sqrt(n);

function ksStatistic(sorted: Float64Array, cdf: (x: number) => number): number {
  const n = sorted.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(sorted[i]!);
    d = Math.max(d, Math.abs(f - i / n), Math.abs((i + 1) / n - f));
  }
  return d;
}

test('gaussian(): Kolmogorov–Smirnov on 10⁶ samples against N(0, 1)', () => {
  const rng = new CryptoRng();
  const n = 1_000_000;
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = rng.gaussian();
  xs.sort();
  const d = ksStatistic(xs, (x) => Math.exp(logNdtr(x)));
  assert.ok(d < ksCritical(n), `KS D = ${d}`);
});

test('laplace(): Kolmogorov–Smirnov on 10⁶ samples against Laplace(0, 2)', () => {
  const rng = new CryptoRng();
  const n = 1_000_000;
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = rng.laplace(2);
  xs.sort();
  const d = ksStatistic(xs, (x) => (x < 0 ? 0.5 * Math.exp(x / 2) : 1 - 0.5 * Math.exp(-x / 2)));
  assert.ok(d < ksCritical(n), `KS D = ${d}`);
});

function discreteGaussianCdf(sigma: number): (z: number) => number {
  const lim = Math.ceil(14 * sigma) + 2;
  const w: number[] = [];
  let total = 0;
  for (let z = -lim; z <= lim; z++) { const p = Math.exp(-(z * z) / (2 * sigma * sigma)); w.push(p); total += p; }
  const cum: number[] = [];
  let s = 0;
  for (const p of w) { s += p / total; cum.push(s); }
  return (z) => (z < -lim ? 0 : z >= lim ? 1 : cum[z + lim]!);
}

test('discreteGaussian(): KS against the exact N_Z(0, σ²) CDF for σ = 0.5, 3, 40', () => {
  const rng = new CryptoRng();
  for (const sigma of [0.5, 3, 40]) {
    const n = 200_000;
    const counts = new Map<number, number>();
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.discreteGaussian(sigma);
      assert.ok(Number.isInteger(z));
      counts.set(z, (counts.get(z) ?? 0) + 1);
      sum += z;
    }
    const cdf = discreteGaussianCdf(sigma);
    const keys = [...counts.keys()].sort((a, b) => a - b);
    let acc = 0;
    let d = 0;
    for (const k of keys) { acc += counts.get(k)!; d = Math.max(d, Math.abs(acc / n - cdf(k))); }
    assert.ok(d < ksCritical(n), `σ=${sigma}: KS D = ${d}`);
    assert.ok(Math.abs(sum / n) < 6 * sigma / Math.sqrt(n), `σ=${sigma}: mean ${sum / n}`);
  }
});

test('exactRational gives the exact value of a double', () => {
  assert.deepEqual(exactRational(6.25), { num: 25n, den: 4n });
  assert.deepEqual(exactRational(1600), { num: 1600n, den: 1n });
  const r = exactRational(0.1);
  assert.equal(Number(r.num) / Number(r.den), 0.1);
  assert.equal(r.den, 2n ** 55n);
});

test('uniform53 uses all 53 bits and an injected source makes draws reproducible on purpose', () => {
  let c = 0;
  const counter: RandomSource = { fill(w) { for (let i = 0; i < w.length; i++) w[i] = (Math.imul(++c, 2654435761) >>> 0); } };
  const a = new CryptoRng(counter);
  const seqA = [a.uniform53(), a.gaussian(), a.laplace(), a.discreteGaussian(3)];
  c = 0;
  const b = new CryptoRng(counter);
  assert.deepEqual([b.uniform53(), b.gaussian(), b.laplace(), b.discreteGaussian(3)], seqA);
  const ones: RandomSource = { fill(w) { w.fill(0xffffffff); } };
  assert.equal(new CryptoRng(ones).uniform53(), 1 - 2 ** -53);
  const rng = new CryptoRng();
  let odd = 0;
  for (let i = 0; i < 2000; i++) if ((rng.uniform53() * 2 ** 53) % 2 === 1) odd++;
  assert.ok(odd > 850 && odd < 1150, `lowest bit set ${odd}/2000 times`);
});

test('uniformInt and uniformBigInt stay in range', () => {
  const rng = new CryptoRng();
  for (let i = 0; i < 1000; i++) {
    const x = rng.uniformInt(7);
    assert.ok(x >= 0 && x < 7 && Number.isInteger(x));
    const y = rng.uniformBigInt(10n ** 30n);
    assert.ok(y >= 0n && y < 10n ** 30n);
  }
});

test('no privacy code calls Math.random: not in the source, and not at run time', () => {
  const dir = new URL('../../../shared/privacy/', import.meta.url);
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.ts')) continue;
    // Comments may say "never Math.random"; code may not call it.
    const src = readFileSync(new URL(f, dir), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    assert.ok(!/Math\s*\.\s*random|Math\s*\[\s*['"]random/.test(src), `${f} mentions Math.random`);
  }
  const original = Math.random;
  Math.random = () => { throw new Error('Math.random called'); };
  try {
    const rng = new CryptoRng();
    gnmax([5, 3, 1], 2, rng);
    gnmax([5, 3, 1], 2, rng, 'discrete');
    confidentGnmax([5, 3, 1], { threshold: 2, sigma1: 1, sigma2: 1 }, rng);
    lnmax([5, 3, 1], 2, rng);
    noisyVoteHistogram([5, 3, 1], 2, rng);
    gaussianSumRelease([[0.5, 0.5]], 1, 2, { clip: 1, noiseMultiplier: 1 }, rng);
  } finally {
    Math.random = original;
  }
});
