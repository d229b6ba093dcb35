// Gaussian noise on a fixed-point grid: exact discrete Gaussian draws, so a released float carries no trace of the noiseless value.
import { check } from '../util/errors.ts';
import type { CryptoRng } from './rng.ts';

/**
 * The grid soft-label releases are snapped to: 2⁻²⁰, a power of two, so k·grid is exact in float64
 * for every integer k below 2⁵³, and far below anything a soft label resolves.
 */
export const RELEASE_GRID = 2 ** -20;

/**
 * L2 sensitivity that rounding to the grid adds to a row of `cols` entries: each of two
 * neighbouring rows moves by at most grid/2 per entry, so their distance grows by ≤ grid·√cols.
 */
export function gridRoundingSlack(cols: number, grid = RELEASE_GRID): number {
  return grid * Math.sqrt(cols);
}

/**
 * Rounds every entry to the grid and adds N_Z(0, (σ/grid)²) grid steps, in place: each entry
 * becomes (k + Z)·grid, exactly. Why not `value + gaussian(σ)`: floating-point Gaussian noise
 * leaks the noiseless value through which results are representable (Mironov 2012). The discrete
 * Gaussian (Canonne–Kamath–Steinke 2020) on integer values of L2 sensitivity Δ/grid has the RDP
 * α·Δ²/(2σ²) of the continuous one, so the charge is unchanged once Δ includes gridRoundingSlack.
 */
export function addGridGaussian(values: Float64Array, std: number, rng: CryptoRng, grid = RELEASE_GRID): void {
  check(Number.isFinite(std) && std > 0, 'noise std', `must be a positive finite number, got ${std}`);
  const steps = std / grid;
  for (let i = 0; i < values.length; i++) {
    check(Number.isFinite(values[i]!), `values[${i}]`, `must be finite, got ${values[i]}`);
    const k = Math.round(values[i]! / grid);
    const noisy = k + rng.discreteGaussian(steps);
    check(Number.isSafeInteger(noisy), `values[${i}]`, `${values[i]} is too large for the release grid ${grid} (|value| must stay below 2^53 grid steps)`);
    values[i] = noisy * grid;
  }
}

/**
 * The largest rounding step of a float32 value in [0, max]: 2^(⌊log2 max⌋ − 23). Soft labels
 * travel as float32, so a site's noiseless reply is rounded by up to half this per entry before
 * the aggregator's noise: two neighbouring replies move apart by up to this·√cols more.
 */
export function float32Step(max: number): number {
  if (!(max > 0)) return 0;
  return 2 ** (Math.floor(Math.log2(max)) - 23);
}
