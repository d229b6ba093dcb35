// Optimizer updates in the graph match a float64 reference implementation of SGD, Adam and AdamW.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../shared/ml/graph.ts';
import { type OptimizerConfig, planUpdate, stateSlots } from '../../../shared/ml/optimizers.ts';

async function graphSteps(o: OptimizerConfig, p0: number[], grads: number[][], lr: number): Promise<number[]> {
  const g = new GraphBuilder('opt', 'float64');
  const n = p0.length;
  const p = g.input('p', [n]);
  const gr = g.input('g', [n]);
  const slots = stateSlots(o).map((s) => g.input(s, [n]));
  const plan = planUpdate(g, o, { lr: g.input('lr', []), step: g.input('step', []) });
  const r = plan.update(p, gr, slots);
  g.output(r.param, 'p_next');
  r.state.forEach((t, i) => g.output(t, `${stateSlots(o)[i]}_next`));
  const s = await ort.InferenceSession.create(g.toModel());
  const T = (v: number[] | number, dims: number[]) => new ort.Tensor('float64', Float64Array.from(typeof v === 'number' ? [v] : v), dims);
  let param = p0;
  let state = stateSlots(o).map(() => new Array(n).fill(0));
  for (let k = 0; k < grads.length; k++) {
    const feeds: Record<string, ort.Tensor> = { p: T(param, [n]), g: T(grads[k]!, [n]), lr: T(lr, []), step: T(k + 1, []) };
    stateSlots(o).forEach((sl, i) => { feeds[sl] = T(state[i]!, [n]); });
    const out = await s.run(feeds);
    param = Array.from(out.p_next!.data as Float64Array);
    state = stateSlots(o).map((sl) => Array.from(out[`${sl}_next`]!.data as Float64Array));
  }
  return param;
}

function reference(o: OptimizerConfig, p0: number[], grads: number[][], lr: number): number[] {
  const p = p0.slice();
  const a = new Array(p.length).fill(0), b = new Array(p.length).fill(0);
  const wd = o.weightDecay ?? 0;
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      if (o.kind === 'sgd') {
        const d = g[i]! + wd * p[i]!;
        a[i] = (o.momentum ?? 0) * a[i] + d;
        p[i] = p[i]! - lr * ((o.momentum ?? 0) > 0 ? a[i] : d);
      } else {
        const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999, eps = o.eps ?? 1e-8;
        const gi = o.kind === 'adam' ? g[i]! + wd * p[i]! : g[i]!;
        if (o.kind === 'adamw') p[i] = p[i]! * (1 - lr * wd);
        a[i] = b1 * a[i] + (1 - b1) * gi;
        b[i] = b2 * b[i] + (1 - b2) * gi * gi;
        p[i] = p[i]! - (lr / (1 - b1 ** t)) * a[i] / (Math.sqrt(b[i]) / Math.sqrt(1 - b2 ** t) + eps);
      }
    }
  });
  return p;
}

const configs: OptimizerConfig[] = [
  { kind: 'sgd' }, { kind: 'sgd', momentum: 0.9, weightDecay: 0.01 },
  { kind: 'adam' }, { kind: 'adam', weightDecay: 0.05 }, { kind: 'adamw', weightDecay: 0.1, beta1: 0.8, beta2: 0.99 },
];
for (const o of configs) {
  test(`in-graph ${JSON.stringify(o)} update matches the reference over 3 steps`, async () => {
    const p0 = [0.5, -1.2, 3, 0.01];
    const grads = [[0.1, -0.4, 2, 0], [0.3, 0.2, -1, 1e-3], [-0.2, 0.05, 0.5, -2]];
    const got = await graphSteps(o, p0, grads, 0.1);
    const want = reference(o, p0, grads, 0.1);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-12, `${v} vs ${want[i]}`));
  });
}
