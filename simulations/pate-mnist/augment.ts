// Image augmentation for teachers and student: random translations and small affine warps of 28×28 images in a Float32Array.
import { SeededRng } from '../../shared/util/prng.ts';

/**
 * Returns a copy of `features` (n images of `side`×`side`, one channel) with each image moved by
 * a random integer offset in [−maxShift, maxShift]² (zero fill). Translations keep MNIST digits
 * valid, so the student sees a new view of each sample every epoch (consistency by augmentation).
 */
export function randomShifts(features: Float32Array, side: number, maxShift: number, rng: SeededRng): Float32Array {
  const px = side * side;
  const n = features.length / px;
  const out = new Float32Array(features.length);
  if (maxShift === 0) { out.set(features); return out; }
  const span = 2 * maxShift + 1;
  for (let i = 0; i < n; i++) {
    const dy = rng.int(span) - maxShift;
    const dx = rng.int(span) - maxShift;
    const src = i * px;
    for (let y = 0; y < side; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= side) continue;
      const x0 = Math.max(0, dx);
      const x1 = Math.min(side, side + dx);
      const from = src + sy * side + (x0 - dx);
      out.set(features.subarray(from, from + (x1 - x0)), src + y * side + x0);
    }
  }
  return out;
}

/**
 * Returns a copy of `features` with each image warped by a random small affine map: rotation in
 * ±`maxRotationDeg`, scale in 1 ± `maxScale`, translation in ±`maxShift` pixels (bilinear
 * sampling, zero outside). Richer than translations alone, which matters when the student has only
 * a few hundred labels.
 */
export function randomAffine(
  features: Float32Array, side: number, o: { maxShift: number; maxRotationDeg: number; maxScale: number }, rng: SeededRng,
): Float32Array {
  const px = side * side;
  const n = features.length / px;
  const out = new Float32Array(features.length);
  const c = (side - 1) / 2;
  for (let i = 0; i < n; i++) {
    const angle = ((2 * rng.next() - 1) * o.maxRotationDeg * Math.PI) / 180;
    const scale = 1 + (2 * rng.next() - 1) * o.maxScale;
    const tx = (2 * rng.next() - 1) * o.maxShift;
    const ty = (2 * rng.next() - 1) * o.maxShift;
    // Inverse map: output pixel (x, y) samples the source at R(−angle)·((x, y) − c − t)/scale + c.
    const cos = Math.cos(angle) / scale;
    const sin = Math.sin(angle) / scale;
    const src = i * px;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const ux = x - c - tx;
        const uy = y - c - ty;
        const sx = cos * ux + sin * uy + c;
        const sy = -sin * ux + cos * uy + c;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        if (x0 < -1 || y0 < -1 || x0 >= side || y0 >= side) continue;
        const fx = sx - x0;
        const fy = sy - y0;
        const at = (yy: number, xx: number): number => (yy < 0 || xx < 0 || yy >= side || xx >= side ? 0 : features[src + yy * side + xx]!);
        out[src + y * side + x] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
      }
    }
  }
  return out;
}
