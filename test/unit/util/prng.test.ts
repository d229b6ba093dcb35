// SeededRng must be exactly xoshiro128** seeded by SplitMix32: checked against an independent BigInt re-implementation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng, seedFromString } from '../../../shared/util/prng.ts';

const MASK = (1n << 32n) - 1n;
const rotl = (x: bigint, k: number): bigint => ((x << BigInt(k)) | (x >> BigInt(32 - k))) & MASK;

/** Reference xoshiro128** 1.0 (Blackman & Vigna), written from the paper's C code, on BigInt words. */
function referenceXoshiro128ss(state: number[]): () => number {
  const s = state.map(BigInt);
  return () => {
    const result = (rotl((s[1]! * 5n) & MASK, 7) * 9n) & MASK;
    const t = (s[1]! << 9n) & MASK;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return Number(result);
  };
}

/** Reference SplitMix32 (the 32-bit variant with the murmur3 finaliser constants) expanding a seed to four words. */
function referenceSplitmix32State(seed: number): number[] {
  let x = BigInt(seed >>> 0);
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9n) & MASK;
    let z = x;
    z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & MASK;
    z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & MASK;
    out.push(Number(z ^ (z >> 16n)));
  }
  return out;
}

test('the reference implementation reproduces xoshiro128** known outputs from state {1,2,3,4}', () => {
  const next = referenceXoshiro128ss([1, 2, 3, 4]);
  const got = Array.from({ length: 10 }, next);
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
});

test('SeededRng.nextU32 equals the reference xoshiro128** from the SplitMix32-expanded state', () => {
  for (const seed of [0, 1, 42, 0xdeadbeef, 2 ** 32 - 1]) {
    const rng = new SeededRng(seed);
    const ref = referenceXoshiro128ss(referenceSplitmix32State(seed));
    for (let i = 0; i < 2000; i++) assert.equal(rng.nextU32(), ref(), `seed ${seed}, output ${i}`);
  }
});

test('string seeds hash with FNV-1a 32 (published vectors)', () => {
  assert.equal(seedFromString(''), 0x811c9dc5);
  assert.equal(seedFromString('a'), 0xe40c292c);
  assert.equal(seedFromString('foobar'), 0xbf9cf968);
  const a = new SeededRng('foobar');
  const b = new SeededRng(0xbf9cf968);
  assert.equal(a.nextU32(), b.nextU32());
});

test('same seed gives the same stream; different seeds and forks differ', () => {
  const draw = (r: SeededRng): number[] => [r.nextU32(), r.next(), r.int(1000), r.normal(), r.gamma(0.3), ...r.permutation(20)];
  assert.deepEqual(draw(new SeededRng(7)), draw(new SeededRng(7)));
  assert.notDeepEqual(draw(new SeededRng(7)), draw(new SeededRng(8)));
  const parent = new SeededRng(7);
  const f1 = parent.fork();
  const f2 = parent.fork();
  assert.notEqual(f1.nextU32(), f2.nextU32());
});

test('uniform, integer, normal, gamma and Dirichlet draws have the right ranges and moments', () => {
  const rng = new SeededRng(12345);
  const n = 100_000;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    sum += u;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.005, `uniform mean ${sum / n}`);

  const buckets = new Array(10).fill(0);
  for (let i = 0; i < n; i++) buckets[rng.int(10)]++;
  const chi2 = buckets.reduce((a, c) => a + (c - n / 10) ** 2 / (n / 10), 0);
  assert.ok(chi2 < 27.9, `chi-square ${chi2} over 9 d.o.f. (p = 0.001 critical value 27.9)`);
  assert.equal(rng.int(1), 0);
  assert.throws(() => rng.int(0), RangeError);
  assert.throws(() => rng.int(2.5), RangeError);

  let m = 0;
  let v = 0;
  for (let i = 0; i < n; i++) { const z = rng.normal(); m += z; v += z * z; }
  assert.ok(Math.abs(m / n) < 0.02, `normal mean ${m / n}`);
  assert.ok(Math.abs(v / n - 1) < 0.03, `normal variance ${v / n}`);

  for (const shape of [0.1, 1, 5]) {
    let g = 0;
    for (let i = 0; i < 20_000; i++) g += rng.gamma(shape);
    assert.ok(Math.abs(g / 20_000 - shape) < 0.05 * Math.max(1, shape), `gamma(${shape}) mean ${g / 20_000}`);
  }
  assert.throws(() => rng.gamma(0), RangeError);

  const d = rng.dirichlet(0.5, 8);
  assert.equal(d.length, 8);
  assert.ok(Math.abs(d.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.ok(d.every((x) => x >= 0));

  const p = rng.permutation(1000);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
});
