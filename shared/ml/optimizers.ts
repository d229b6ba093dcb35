// Optimizer updates as graph nodes: SGD (momentum, weight decay), Adam and AdamW, state in and out of the graph.
import { type GraphBuilder, type Tensor } from './graph.ts';
import * as op from './ops.ts';
import { check } from '../util/errors.ts';
import { didYouMean } from '../util/suggest.ts';

export type OptimizerConfig =
  | { kind: 'sgd'; momentum?: number; weightDecay?: number }
  | { kind: 'adam' | 'adamw'; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };

/** Names of the per-parameter state slots an optimizer keeps (e.g. Adam's m and v). */
export function stateSlots(o: OptimizerConfig): string[] {
  if (o.kind === 'sgd') return (o.momentum ?? 0) > 0 ? ['velocity'] : [];
  return ['m', 'v'];
}

/** The settings each optimizer takes besides `kind`: any other key (`nesterov`, `weight_decay`) is refused, never ignored. */
const OPTIMIZER_KEYS: Record<OptimizerConfig['kind'], readonly string[]> = {
  sgd: ['momentum', 'weightDecay'], adam: ['beta1', 'beta2', 'eps', 'weightDecay'], adamw: ['beta1', 'beta2', 'eps', 'weightDecay'],
};

/** AdamW's decoupled weight decay when a config leaves it out: PyTorch's default, and the `'adamw'` shorthand's. */
export const ADAMW_DEFAULT_WEIGHT_DECAY = 0.01;

/** The config with its defaults that change the update filled in: `{kind: 'adamw'}` decays by 0.01, as `'adamw'` does (not 0, which is Adam). */
export function normaliseOptimizer(o: OptimizerConfig): OptimizerConfig {
  return o?.kind === 'adamw' && o.weightDecay === undefined ? { ...o, weightDecay: ADAMW_DEFAULT_WEIGHT_DECAY } : o;
}

export function validateOptimizer(o: OptimizerConfig): void {
  check(['sgd', 'adam', 'adamw'].includes(o?.kind), 'optimizer', `must be sgd, adam or adamw, got ${JSON.stringify(o?.kind)}`);
  const known = OPTIMIZER_KEYS[o.kind];
  for (const k of Object.keys(o)) {
    check(k === 'kind' || known.includes(k), `optimizer.${k}`, `is not a setting of ${o.kind}${didYouMean(k, known)}; its settings are ${known.join(', ')}`);
  }
  const inUnit = (v: number) => Number.isFinite(v) && v >= 0 && v < 1;
  const wd = o.weightDecay ?? 0;
  check(Number.isFinite(wd) && wd >= 0, 'weightDecay', `must be a finite number ≥ 0, got ${wd}`);
  if (o.kind === 'sgd') check(inUnit(o.momentum ?? 0), 'momentum', `must be in [0, 1), got ${o.momentum}`);
  else {
    check(inUnit(o.beta1 ?? 0.9), 'beta1', `must be in [0, 1), got ${o.beta1}`);
    check(inUnit(o.beta2 ?? 0.999), 'beta2', `must be in [0, 1), got ${o.beta2}`);
    // as PyTorch: ε ≥ 0; a NaN or infinite one would make every weight NaN at the first step
    check(Number.isFinite(o.eps ?? 1e-8) && (o.eps ?? 1e-8) >= 0, 'eps', `must be a finite number ≥ 0, got ${o.eps}`);
  }
}

/** Scalars shared by every parameter's update: learning rate and step count t (1-based). */
export interface UpdateScalars { lr: Tensor; step: Tensor }

/** Per-step constants computed once (Adam's bias corrections). */
export interface UpdatePlan { update(p: Tensor, grad: Tensor, state: Tensor[]): { param: Tensor; state: Tensor[] } }

/**
 * Emits the update rule. SGD: v ← μv + (g + λp); p ← p − ηv. Adam (PyTorch form):
 * m ← β1m + (1−β1)g; v ← β2v + (1−β2)g²; p ← p − η/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε);
 * Adam adds λp to g, AdamW decays p by (1 − ηλ) instead.
 */
export function planUpdate(g: GraphBuilder, o: OptimizerConfig, s: UpdateScalars): UpdatePlan {
  const c = (v: number) => g.constant(v);
  const wd = o.weightDecay ?? 0;
  if (o.kind === 'sgd') {
    const mu = o.momentum ?? 0;
    return {
      update(p, grad, state) {
        if (mu === 0) {
          const d = wd > 0 ? op.add(g, grad, op.mul(g, p, c(wd))) : grad;
          return { param: op.sub(g, p, op.mul(g, d, s.lr)), state: [] };
        }
        // v ← μv + g, folded into the Gemm that computes a dense layer's weight gradient when it can.
        const vg = g.accumulateIntoGemm(grad, state[0]!, mu) ?? op.add(g, op.mul(g, state[0]!, c(mu)), grad);
        const v = wd > 0 ? op.add(g, vg, op.mul(g, p, c(wd))) : vg;
        return { param: op.sub(g, p, op.mul(g, v, s.lr)), state: [v] };
      },
    };
  }
  const b1 = o.beta1 ?? 0.9;
  const b2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-8;
  const bc1 = op.sub(g, c(1), op.pow(g, c(b1), s.step));
  const bc2 = op.sub(g, c(1), op.pow(g, c(b2), s.step));
  const stepSize = op.div(g, s.lr, bc1);
  const invSqrtBc2 = op.div(g, c(1), op.sqrt(g, bc2));
  const decay = o.kind === 'adamw' && wd > 0 ? op.sub(g, c(1), op.mul(g, s.lr, c(wd))) : undefined;
  return {
    update(p, grad, state) {
      const gr = o.kind === 'adam' && wd > 0 ? op.add(g, grad, op.mul(g, p, c(wd))) : grad;
      const m = op.add(g, op.mul(g, state[0]!, c(b1)), op.mul(g, gr, c(1 - b1)));
      const v = op.add(g, op.mul(g, state[1]!, c(b2)), op.mul(g, op.mul(g, gr, gr), c(1 - b2)));
      const denom = op.add(g, op.mul(g, op.sqrt(g, v), invSqrtBc2), c(eps));
      const base = decay ? op.mul(g, p, decay) : p;
      return { param: op.sub(g, base, op.mul(g, op.div(g, m, denom), stepSize)), state: [m, v] };
    },
  };
}
