// Cryptographic randomness for privacy noise: 53-bit uniforms, Gaussian, Laplace and exact discrete Gaussian.
//
// All privacy noise comes from node:crypto (or, only where a test asks for determinism on
// purpose, from an injected RandomSource). Never the JS engine's RNG, never the seeded PRNG.
import { randomFillSync } from 'node:crypto';
import { check } from '../util/errors.ts';
import { sampleDiscreteGaussian } from './discrete-gaussian.ts';

/** Where random bits come from: fills a buffer with uniformly random 32-bit words. */
export interface RandomSource {
  fill(words: Uint32Array): void;
}

/** The operating system CSPRNG through node:crypto. */
export const cryptoRandomSource: RandomSource = {
  fill(words: Uint32Array): void { randomFillSync(words); },
};

const POOL_WORDS = 4096;
const TWO_POW_53 = 9007199254740992;

/**
 * Privacy-noise generator. Buffers random words from its source (one syscall per 16 KiB), so that
 * drawing millions of samples is cheap. Use one instance per process or per mechanism; it is not
 * seedable unless a RandomSource is injected.
 */
export class CryptoRng {
  private readonly source: RandomSource;
  private readonly pool = new Uint32Array(POOL_WORDS);
  private pos = POOL_WORDS;

  constructor(source: RandomSource = cryptoRandomSource) {
    this.source = source;
  }

  /** A uniformly random 32-bit unsigned integer. */
  uint32(): number {
    if (this.pos >= POOL_WORDS) { this.source.fill(this.pool); this.pos = 0; }
    return this.pool[this.pos++]!;
  }

  /** Uniform on [0, 1) with all 53 mantissa bits random (k / 2^53). */
  uniform53(): number {
    const hi = this.uint32() >>> 6; // 26 bits
    const lo = this.uint32() >>> 5; // 27 bits
    return (hi * 134217728 + lo) / TWO_POW_53;
  }

  /** Uniform on (0, 1]: never 0, so its logarithm is finite. */
  uniformOpenClosed(): number {
    return 1 - this.uniform53();
  }

  /** Uniform integer in [0, n) for 1 ≤ n ≤ 2^53, by rejection (no modulo bias). */
  uniformInt(n: number): number {
    if (n <= 0x100000000) {
      const limit = 0x100000000 - (0x100000000 % n);
      for (;;) { const x = this.uint32(); if (x < limit) return x % n; }
    }
    for (;;) {
      const x = (this.uint32() >>> 6) * 134217728 + (this.uint32() >>> 5);
      const limit = TWO_POW_53 - (TWO_POW_53 % n);
      if (x < limit) return x % n;
    }
  }

  /** Uniform BigInt in [0, n), by rejection on the bit length of n. */
  uniformBigInt(n: bigint): bigint {
    if (n <= 0n) throw new RangeError('uniformBigInt needs n > 0');
    if (n <= 0x100000000n) return BigInt(this.uniformInt(Number(n)));
    const bits = n.toString(2).length;
    const words = Math.ceil(bits / 32);
    const topMask = bits % 32 === 0 ? 0xffffffff : (2 ** (bits % 32)) - 1;
    for (;;) {
      let x = BigInt((this.uint32() & topMask) >>> 0);
      for (let i = 1; i < words; i++) x = (x << 32n) | BigInt(this.uint32());
      if (x < n) return x;
    }
  }

  /** A standard normal draw (Box–Muller on two 53-bit uniforms). Scale it by σ. */
  gaussian(sigma = 1): number {
    const u1 = this.uniformOpenClosed();
    const u2 = this.uniform53();
    return sigma * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** A Laplace(0, b) draw: a random sign times an Exp(1/b) variable from a 53-bit uniform. */
  laplace(scale = 1): number {
    const e = -Math.log(this.uniformOpenClosed());
    return (this.uint32() & 1) === 0 ? scale * e : -scale * e;
  }

  /**
   * An exact draw from the discrete Gaussian N_Z(0, σ²) (Canonne–Kamath–Steinke 2020). σ² is
   * taken as the exact rational value of the double, so there is no floating-point bias.
   */
  discreteGaussian(sigma: number): number {
    check(Number.isFinite(sigma) && sigma > 0, 'sigma', `must be a positive finite number, got ${sigma}`);
    return sampleDiscreteGaussian(this, sigma);
  }
}
