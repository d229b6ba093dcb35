// Swing-style per-sample temperature: riskier samples get a higher temperature, so their soft labels say less.
import { check } from '../util/errors.ts';

/**
 * Risk score per sample row, in [0, 1]:
 * - `confidence`: the teacher's top probability. A teacher that is very sure about a sample is
 *   the typical sign of a memorized (member) example, the case membership inference exploits.
 * - `margin`: top probability minus the runner-up, the same signal, less sensitive to ties.
 * Both are local to one teacher, so they cannot tell a memorised secret from a clean, easy sample
 * (both get p ≈ 1) and soften every confident row. Across sites, the risk that does separate them
 * is low support (only one site backs the row's top class): see support-gate.ts, which reads it
 * from the noised sum and withholds such rows (an infinite temperature).
 */
export type RiskScore = 'confidence' | 'margin';

export interface SwingPolicy {
  risk: RiskScore;
  /** Temperature for risk ≤ riskFloor (≥ 1 keeps labels at least as soft as the teacher's). */
  minTemperature: number;
  /** Temperature for risk = 1. */
  maxTemperature: number;
  /** Risk below which samples keep minTemperature (default 0). */
  riskFloor?: number;
}

function checkPolicy(p: SwingPolicy): void {
  check(p.risk === 'confidence' || p.risk === 'margin', 'risk', `must be confidence or margin, got ${String(p.risk)}`);
  check(Number.isFinite(p.minTemperature) && p.minTemperature > 0, 'minTemperature', `must be > 0, got ${p.minTemperature}`);
  check(Number.isFinite(p.maxTemperature) && p.maxTemperature >= p.minTemperature, 'maxTemperature', `must be ≥ minTemperature, got ${p.maxTemperature}`);
  const f = p.riskFloor ?? 0;
  check(f >= 0 && f < 1, 'riskFloor', `must be in [0, 1), got ${f}`);
}

/** The risk score of each row of a probability matrix (rows × cols). */
export function riskScores(probs: ArrayLike<number>, rows: number, cols: number, risk: RiskScore): Float64Array {
  check(probs.length === rows * cols, 'probs', `has ${probs.length} entries; expected ${rows * cols}`);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let top = -Infinity;
    let second = -Infinity;
    for (let c = 0; c < cols; c++) {
      const p = probs[r * cols + c]!;
      check(Number.isFinite(p) && p >= 0, `probs[${r}][${c}]`, `must be a probability, got ${p}`);
      if (p > top) { second = top; top = p; } else if (p > second) second = p;
    }
    out[r] = Math.min(1, risk === 'confidence' ? top : top - (second === -Infinity ? 0 : second));
  }
  return out;
}

/**
 * Per-sample temperatures: linear in risk from minTemperature (at riskFloor) to maxTemperature
 * (at risk 1). Applied before clipping, so riskier samples leak less.
 */
export function swingTemperatures(probs: ArrayLike<number>, rows: number, cols: number, policy: SwingPolicy): Float64Array {
  checkPolicy(policy);
  const risk = riskScores(probs, rows, cols, policy.risk);
  const floor = policy.riskFloor ?? 0;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const t = Math.max(0, (risk[r]! - floor) / (1 - floor));
    out[r] = policy.minTemperature + (policy.maxTemperature - policy.minTemperature) * t;
  }
  return out;
}

/** Re-tempers probabilities row by row: softmax(log p / T_r). Zero probabilities stay zero. */
export function applyTemperatures(probs: ArrayLike<number>, rows: number, cols: number, temperatures: ArrayLike<number>): Float64Array {
  check(temperatures.length === rows, 'temperatures', `has ${temperatures.length} entries; expected one per row (${rows})`);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const t = temperatures[r]!;
    check(Number.isFinite(t) && t > 0, `temperatures[${r}]`, `must be > 0, got ${t}`);
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.log(probs[r * cols + c]!) / t);
    let s = 0;
    for (let c = 0; c < cols; c++) {
      const e = Math.exp(Math.log(probs[r * cols + c]!) / t - m);
      out[r * cols + c] = e;
      s += e;
    }
    for (let c = 0; c < cols; c++) out[r * cols + c] /= s;
  }
  return out;
}
