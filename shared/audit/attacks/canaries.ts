// Canaries for exposure audits: distinctive random binary images, each with a secret label, and their near-duplicates.
import { check } from '../../util/errors.ts';
import { SeededRng } from '../../util/prng.ts';

export interface CanaryOptions {
  /** Number of secrets. */
  count: number;
  /** Labels per secret (its length L): the candidate space is classes^L. */
  digits: number;
  classes: number;
  /** Pixels per image. */
  pixels: number;
  /** Fraction of pixels set to 1 in a pattern. */
  density: number;
  seed: number | string;
}

export interface CanarySet {
  count: number;
  digits: number;
  pixels: number;
  /** count·digits patterns (row i·digits + j is position j of secret i), values 0 or 1. */
  patterns: Float32Array;
  /** The secret label of each pattern, in the same order. */
  secretLabels: Uint8Array;
}

/**
 * Draws the canaries: every pattern is an independent random binary image (nothing like a
 * digit, so other sites' data says nothing about it) and every label is uniform, so a model
 * can only rank the secret high by having been influenced by the site that holds it.
 */
export function generateCanaries(o: CanaryOptions): CanarySet {
  check(Number.isSafeInteger(o.count) && o.count > 0, 'canaries.count', `must be a positive integer, got ${o.count}`);
  check(Number.isSafeInteger(o.digits) && o.digits > 0, 'canaries.digits', `must be a positive integer, got ${o.digits}`);
  check(o.density > 0 && o.density < 1, 'canaries.density', `must be in (0, 1), got ${o.density}`);
  const rng = new SeededRng(`fedistill/audit/canaries/${o.seed}`);
  const n = o.count * o.digits;
  const patterns = new Float32Array(n * o.pixels);
  for (let i = 0; i < patterns.length; i++) patterns[i] = rng.next() < o.density ? 1 : 0;
  const secretLabels = new Uint8Array(n);
  for (let i = 0; i < n; i++) secretLabels[i] = rng.int(o.classes);
  return { count: o.count, digits: o.digits, pixels: o.pixels, patterns, secretLabels };
}

/**
 * `copies` near-duplicates of every pattern: each pixel flipped independently with probability
 * `flip`. Returns the images and, per image, the pattern it came from.
 */
export function nearDuplicates(c: CanarySet, copies: number, flip: number, seed: number | string): { features: Float32Array; source: Uint32Array } {
  check(Number.isSafeInteger(copies) && copies >= 0, 'copies', `must be a non-negative integer, got ${copies}`);
  check(flip >= 0 && flip < 0.5, 'flip', `must be in [0, 0.5), got ${flip}`);
  const rng = new SeededRng(`fedistill/audit/near-duplicates/${seed}`);
  const patterns = c.count * c.digits;
  const features = new Float32Array(patterns * copies * c.pixels);
  const source = new Uint32Array(patterns * copies);
  for (let p = 0, row = 0; p < patterns; p++) {
    for (let k = 0; k < copies; k++, row++) {
      source[row] = p;
      for (let i = 0; i < c.pixels; i++) {
        const v = c.patterns[p * c.pixels + i]!;
        features[row * c.pixels + i] = rng.next() < flip ? 1 - v : v;
      }
    }
  }
  return { features, source };
}
