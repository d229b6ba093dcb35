// Losses as graph nodes: cross-entropy, temperature distillation (per-sample T), MSE/MAE on logits, and their mix.
import { type GraphBuilder, type Tensor } from './graph.ts';
import * as op from './ops.ts';
import { check } from '../util/errors.ts';

/**
 * How a batch is scored.
 * - `ce`: cross-entropy against `hard` (one-hot or any target distribution).
 * - `distill`: `hardWeight`·CE(hard) + (1 − hardWeight)·soft term, where the soft term is
 *   KL(p_t ‖ softmax(s/T))·T² with a per-sample T (`kl`), or MSE / MAE between logits (`mse`, `mae`, FedMD).
 *   `targets: 'logits'` means soft targets are teacher logits (p_t = softmax(t/T));
 *   `targets: 'probs'` means they are already probabilities (aggregated soft labels).
 */
export type LossConfig =
  | { kind: 'ce' }
  | { kind: 'distill'; soft: 'kl' | 'mse' | 'mae'; targets: 'probs' | 'logits'; hardWeight: number };

/** Graph inputs a loss reads, beside the logits. */
export interface LossInputs { hard?: Tensor; soft?: Tensor; temperature?: Tensor }

export function validateLoss(l: LossConfig): void {
  if (l.kind === 'distill') {
    check(l.hardWeight >= 0 && l.hardWeight <= 1, 'alpha', `the hard/soft mix must be in [0, 1], got ${l.hardWeight}`);
    check(['kl', 'mse', 'mae'].includes(l.soft), 'soft loss', `must be kl, mse or mae, got ${l.soft}`);
    // anything else was read as probabilities: teacher logits with a misspelt kind trained the wrong loss
    check(l.targets === 'probs' || l.targets === 'logits', 'targetKind', `must be 'probs' or 'logits', got ${JSON.stringify(l.targets)}`);
  }
}

/** Declares the loss's inputs on `g`: hard [N,C], soft [N,C], temperature [N,1]. */
export function declareLossInputs(g: GraphBuilder, l: LossConfig, classes: number): LossInputs {
  const out: LossInputs = {};
  if (l.kind === 'ce' || l.hardWeight > 0) out.hard = g.input('y_hard', ['N', classes]);
  if (l.kind === 'distill' && l.hardWeight < 1) {
    out.soft = g.input('y_soft', ['N', classes]);
    if (l.soft === 'kl') out.temperature = g.input('temperature', ['N', 1]);
  }
  return out;
}

const softmaxCache = new WeakMap<GraphBuilder, Map<string, ReturnType<typeof op.logSoftmaxParts>>>();
/** log softmax and softmax of logits z, built once per graph (the loss and its gradient share them). */
function softmaxOf(g: GraphBuilder, z: Tensor): ReturnType<typeof op.logSoftmaxParts> {
  let m = softmaxCache.get(g);
  if (!m) softmaxCache.set(g, (m = new Map()));
  let parts = m.get(z.name);
  if (!parts) m.set(z.name, (parts = op.logSoftmaxParts(g, z)));
  return parts;
}

/** Mean cross-entropy of logits z [N,C] against target distributions y [N,C]. */
export function crossEntropy(g: GraphBuilder, z: Tensor, y: Tensor): Tensor {
  const perSample = op.reduceSum(g, op.mul(g, y, softmaxOf(g, z).logp()), [1]);
  return op.neg(g, op.reduceMean(g, perSample, [0]));
}

/** Mean over samples of KL(p_t ‖ softmax(z/T))·T², T per sample [N,1]. */
export function distillKl(g: GraphBuilder, z: Tensor, soft: Tensor, T: Tensor, targets: 'probs' | 'logits'): Tensor {
  const pt = targets === 'logits' ? op.softmax(g, op.div(g, soft, T)) : soft;
  const logPt = op.log(g, op.max(g, pt, g.constant(1e-12)));
  const ls = softmaxOf(g, op.div(g, z, T)).logp();
  const kl = op.reduceSum(g, op.mul(g, pt, op.sub(g, logPt, ls)), [1], true);
  return op.reduceMean(g, op.mul(g, kl, op.mul(g, T, T)), [0, 1]);
}

/** Mean squared (or absolute) difference between logits and target logits. */
export function logitDistance(g: GraphBuilder, z: Tensor, t: Tensor, kind: 'mse' | 'mae'): Tensor {
  const d = op.sub(g, z, t);
  const e = kind === 'mse' ? op.mul(g, d, d) : op.abs(g, d);
  return op.reduceMean(g, e, [0, 1]);
}

/**
 * d loss / d logits in closed form where there is one, else undefined. Mean cross-entropy:
 * (softmax(z)·Σ_c y − y) / N. A handful of kernels instead of the differentiated loss graph
 * (about twenty small ones), which matters per step on every device.
 */
export function logitGradient(g: GraphBuilder, l: LossConfig, z: Tensor, inp: LossInputs): Tensor | undefined {
  if (l.kind !== 'ce') return undefined;
  const y = inp.hard!;
  const p = softmaxOf(g, z).p();
  return op.div(g, op.sub(g, op.mul(g, p, op.reduceSum(g, y, [1], true)), y), op.rowCount(g, z));
}

/**
 * Cross-entropy on one-hot targets y as a training step needs it: d loss / d logits =
 * (softmax(z) − y) / N (rows of y sum to 1, so the Σy factor drops out) and the summed loss
 * Σ_i −log softmax(z_i)·y_i for the running metrics (no mean to undo, no negation). A step on a
 * GPU pays per kernel: this is five fewer than the general form.
 */
export function oneHotCrossEntropy(g: GraphBuilder, z: Tensor, y: Tensor): { grad: Tensor; lossSum: Tensor } {
  const parts = softmaxOf(g, z);
  return {
    grad: op.div(g, op.sub(g, parts.p(), y), op.rowCount(g, z)),
    lossSum: op.reduceSum(g, op.mul(g, y, parts.nll()), [0, 1]),
  };
}

/** Builds the scalar loss for a configuration. */
export function buildLoss(g: GraphBuilder, l: LossConfig, z: Tensor, inp: LossInputs): Tensor {
  if (l.kind === 'ce') return crossEntropy(g, z, inp.hard!);
  const terms: Tensor[] = [];
  if (inp.hard) terms.push(op.mul(g, crossEntropy(g, z, inp.hard), g.constant(l.hardWeight)));
  if (inp.soft) {
    const soft = l.soft === 'kl' ? distillKl(g, z, inp.soft, inp.temperature!, l.targets) : logitDistance(g, z, inp.soft, l.soft);
    terms.push(op.mul(g, soft, g.constant(1 - l.hardWeight)));
  }
  return terms.length === 1 ? terms[0]! : op.add(g, terms[0]!, terms[1]!);
}
