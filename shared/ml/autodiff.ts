// Reverse-mode autodiff over a recorded graph: walks nodes backwards and emits VJP nodes into the same graph.
import { type GraphBuilder, type Tensor } from './graph.ts';
import * as op from './ops.ts';
import { NON_DIFFERENTIABLE, VJP_RULES } from './vjp-rules.ts';

/** Where a backward pass starts: a scalar loss, or a value whose gradient is known in closed form. */
export type GradientStart = Tensor | { at: Tensor; grad: Tensor };

/**
 * Gradients of a scalar loss with respect to `wrt`, as new nodes in `g`. Only nodes on a path
 * from `wrt` to the start are differentiated, so inputs such as data and labels cost nothing.
 * A seed `{ at, grad }` starts the backward pass at an intermediate value whose gradient is known
 * in closed form (the logits, for cross-entropy), so the loss's own nodes are not differentiated
 * and need not even be in the graph.
 */
export function gradients(g: GraphBuilder, start: GradientStart, wrt: readonly Tensor[]): Tensor[] {
  const seed = 'at' in start ? start : undefined;
  const from = seed ? seed.at : (start as Tensor);
  if (!seed && from.shape.length !== 0) throw new Error(`gradients: loss must be a scalar, got shape [${from.shape}]`);
  const nodes = g.nodes.slice();
  const requires = new Set(wrt.map((t) => t.name));
  for (const n of nodes) {
    if (NON_DIFFERENTIABLE.has(n.op) || n.outputs.every((o) => g.stopped.has(o.name))) continue;
    if (n.inputs.some((i) => i && requires.has(i.name))) for (const o of n.outputs) requires.add(o.name);
  }
  if (!requires.has(from.name)) throw new Error('gradients: the loss does not depend on any parameter');

  const grads = new Map<string, Tensor>([[from.name, seed ? seed.grad : g.constant(1)]]);
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (!n.outputs.some((o) => grads.has(o.name))) continue;
    const needs = n.inputs.map((i) => !!i && requires.has(i.name) && (i.dtype === 'float32' || i.dtype === 'float64'));
    if (!needs.some(Boolean)) continue;
    const rule = VJP_RULES[n.op];
    if (!rule) throw new Error(`gradients: no vector-Jacobian rule for ONNX op ${n.op}`);
    const gys = n.outputs.map((o) => grads.get(o.name));
    const dins = rule(g, n, gys, needs);
    n.inputs.forEach((inp, i) => {
      const d = dins[i];
      if (!inp || !needs[i] || !d) return;
      const prev = grads.get(inp.name);
      grads.set(inp.name, prev ? op.add(g, prev, d) : d);
    });
  }
  return wrt.map((w) => grads.get(w.name) ?? op.zerosLike(g, w));
}
