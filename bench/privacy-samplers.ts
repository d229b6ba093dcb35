// Bench: throughput and Kolmogorov–Smirnov statistics of the privacy noise samplers on 10⁶ draws each.
// Run: node --import tsx bench/privacy-samplers.ts   (prints one JSON object)
import { CryptoRng } from '../shared/privacy/rng.ts';
import { logNdtr } from '../shared/privacy/special-functions.ts';
import { benchArgs } from './bench-args.ts';

benchArgs({
  name: 'privacy-samplers',
  summary: `Throughput and Kolmogorov–Smirnov statistics of the privacy noise samplers (Gaussian, Laplace,
discrete Gaussian) on 10⁶ draws each (docs/privacy.md). Prints one JSON object.`,
});

const N = 1_000_000;
const rng = new CryptoRng();

/** Asymptotic KS p-value: 2 Σ (−1)^{k−1} e^{−2k²λ²}, λ = D(√n + 0.12 + 0.11/√n). */
function ksPValue(d: number, n: number): number {
  const l = d * (Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n));
  let s = 0;
  for (let k = 1; k < 100; k++) s += 2 * (k % 2 ? 1 : -1) * Math.exp(-2 * k * k * l * l);
  return Math.min(1, Math.max(0, s));
}

function continuous(name: string, draw: () => number, cdf: (x: number) => number) {
  const xs = new Float64Array(N);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) xs[i] = draw();
  const ms = performance.now() - t0;
  xs.sort();
  let d = 0;
  for (let i = 0; i < N; i++) { const f = cdf(xs[i]!); d = Math.max(d, Math.abs(f - i / N), Math.abs((i + 1) / N - f)); }
  return { sampler: name, n: N, ms: Number(ms.toFixed(0)), ns_per_sample: Number(((ms * 1e6) / N).toFixed(0)), ks_d: d, ks_p: ksPValue(d, N) };
}

function discrete(sigma: number) {
  const counts = new Map<number, number>();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) { const z = rng.discreteGaussian(sigma); counts.set(z, (counts.get(z) ?? 0) + 1); }
  const ms = performance.now() - t0;
  const lim = Math.ceil(14 * sigma) + 2;
  let total = 0;
  for (let z = -lim; z <= lim; z++) total += Math.exp(-(z * z) / (2 * sigma * sigma));
  let cdf = 0, emp = 0, d = 0;
  for (let z = -lim; z <= lim; z++) {
    cdf += Math.exp(-(z * z) / (2 * sigma * sigma)) / total;
    emp += (counts.get(z) ?? 0) / N;
    d = Math.max(d, Math.abs(emp - cdf));
  }
  // For a discrete law the continuous KS p-value is conservative (too large), never too small.
  return { sampler: `discreteGaussian(σ=${sigma})`, n: N, ms: Number(ms.toFixed(0)), ns_per_sample: Number(((ms * 1e6) / N).toFixed(0)), ks_d: d, ks_p_conservative: ksPValue(d, N) };
}

console.log(JSON.stringify({
  bench: 'privacy-samplers',
  command: 'node --import tsx bench/privacy-samplers.ts',
  source: 'node:crypto randomFillSync, 16 KiB pool',
  results: [
    continuous('gaussian', () => rng.gaussian(), (x) => Math.exp(logNdtr(x))),
    continuous('laplace(b=1)', () => rng.laplace(1), (x) => (x < 0 ? 0.5 * Math.exp(x) : 1 - 0.5 * Math.exp(-x))),
    discrete(1),
    discrete(40),
  ],
}));
