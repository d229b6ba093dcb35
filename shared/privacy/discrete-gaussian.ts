// Exact discrete Gaussian sampling (Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy", 2020).
//
// Floating-point samplers leak through the low bits of their output (Mironov 2012). This one
// uses only integer arithmetic on exact rationals: σ² is the exact dyadic value of the double,
// and every coin is a Bernoulli(n/d) decided by a uniform integer comparison.

/** What the sampler needs from a random generator: uniform integers. */
export interface UniformIntegerSource {
  uniformInt(n: number): number;
  uniformBigInt(n: bigint): bigint;
}

/** A non-negative rational n/d with d > 0. */
interface Rational { num: bigint; den: bigint }

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) { const t = a % b; a = b; b = t; }
  return a < 0n ? -a : a;
}

function reduce(num: bigint, den: bigint): Rational {
  const g = gcd(num, den);
  return g > 1n ? { num: num / g, den: den / g } : { num, den };
}

/** The exact rational value of a finite positive double (mantissa · 2^exponent). */
export function exactRational(x: number): Rational {
  if (!(Number.isFinite(x) && x >= 0)) throw new RangeError(`exactRational needs a finite x ≥ 0, got ${x}`);
  if (x === 0) return { num: 0n, den: 1n };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exponentBits = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & 0xfffffffffffffn;
  let exponent: number;
  if (exponentBits === 0) exponent = -1074; // subnormal
  else { mantissa |= 1n << 52n; exponent = exponentBits - 1075; }
  if (exponent >= 0) return { num: mantissa << BigInt(exponent), den: 1n };
  return reduce(mantissa, 1n << BigInt(-exponent));
}

/** Bernoulli(n/d) for 0 ≤ n ≤ d. */
function bernoulliRational(rng: UniformIntegerSource, num: bigint, den: bigint): boolean {
  if (den <= 9007199254740992n) return rng.uniformInt(Number(den)) < Number(num);
  return rng.uniformBigInt(den) < num;
}

/** Bernoulli(exp(−γ)) for rational γ ≥ 0 (CKS Algorithm 1), without evaluating exp. */
function bernoulliExpMinus(rng: UniformIntegerSource, g: Rational): boolean {
  if (g.num <= g.den) {
    // K = 1, 2, …: keep drawing Bernoulli(γ/K) while it succeeds; accept iff the run ends at odd K.
    let k = 1n;
    for (;;) {
      if (!bernoulliRational(rng, g.num, g.den * k)) break;
      k += 1n;
    }
    return k % 2n === 1n;
  }
  const whole = g.num / g.den;
  for (let i = 0n; i < whole; i++) {
    if (!bernoulliExpMinus(rng, { num: 1n, den: 1n })) return false;
  }
  return bernoulliExpMinus(rng, { num: g.num - whole * g.den, den: g.den });
}

/** Bernoulli(exp(−u/t)) for small non-negative integers u < t: the common case, kept in numbers. */
function bernoulliExpMinusSmall(rng: UniformIntegerSource, u: number, t: number): boolean {
  let k = 1;
  while (rng.uniformInt(t * k) < u) k++;
  return k % 2 === 1;
}

/** Geometric count of successes of Bernoulli(exp(−1)) before the first failure. */
function geometricExpMinusOne(rng: UniformIntegerSource): number {
  let v = 0;
  while (bernoulliExpMinusSmall(rng, 1, 1)) v++;
  return v;
}

/**
 * One draw from N_Z(0, σ²): P[Z = z] ∝ exp(−z²/(2σ²)) on the integers (CKS Algorithm 3:
 * rejection from a discrete Laplace with scale t = ⌊σ⌋ + 1).
 */
export function sampleDiscreteGaussian(rng: UniformIntegerSource, sigma: number): number {
  const s2 = exactRational(sigma * sigma === 0 ? Number.MIN_VALUE : sigma * sigma);
  const t = Math.floor(sigma) + 1;
  const tBig = BigInt(t);
  // γ(x) = (x − σ²/t)² / (2σ²) = (x·d·t − n)² / (2·n·d·t²), with σ² = n/d.
  const gammaDen = 2n * s2.num * s2.den * tBig * tBig;
  for (;;) {
    const u = rng.uniformInt(t);
    if (!bernoulliExpMinusSmall(rng, u, t)) continue;
    const x = u + t * geometricExpMinusOne(rng);
    const negative = rng.uniformInt(2) === 1;
    if (negative && x === 0) continue;
    const diff = BigInt(x) * s2.den * tBig - s2.num;
    if (bernoulliExpMinus(rng, reduce(diff * diff, gammaDen))) return negative ? -x : x;
  }
}
