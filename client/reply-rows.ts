// The probability rows a site releases: defined for any logits, temperature and weight, so that nothing a query asks can make the reply fail on private values.

/**
 * softmax(logits / T) per row, as non-negative finite rows for every finite T > 0 and any logits.
 * Why it must never fail: the site's charge is fixed before its teachers run, and a reply that
 * failed for some logits (a tiny T that overflows, a model that diverged) would tell the aggregator,
 * un-noised and uncharged, something about them. The row's max is subtracted before dividing by T,
 * so every exponent is ≤ 0 and the largest is 0; a row holding a non-finite logit becomes the
 * uniform row, which depends on nothing. Every row stays a probability row, so the replace-one
 * bound √2·clip that the charge assumes still holds after the clip.
 */
export function temperatureSoftmax(logits: ArrayLike<number>, rows: number, cols: number, temperature: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const at = r * cols;
    let max = -Infinity;
    let finite = true;
    for (let c = 0; c < cols; c++) {
      const v = logits[at + c]!;
      if (!Number.isFinite(v)) { finite = false; break; }
      if (v > max) max = v;
    }
    if (!finite) { out.fill(1 / cols, at, at + cols); continue; }
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += out[at + c] = Math.exp((logits[at + c]! - max) / temperature);
    for (let c = 0; c < cols; c++) out[at + c]! /= sum;
  }
  return out;
}

/**
 * Scales each row by its weight (competence weighting), a weight that is not a finite number in
 * [0, 1] counting as 0: like the softmax, a data-dependent weight must not make the reply fail.
 */
export function weightRows(rows: Float64Array, cols: number, weights: ArrayLike<number>): void {
  for (let r = 0; r * cols < rows.length; r++) {
    const w = weights[r]!;
    const f = Number.isFinite(w) && w >= 0 ? Math.min(w, 1) : 0;
    for (let c = 0; c < cols; c++) rows[r * cols + c]! *= f;
  }
}
