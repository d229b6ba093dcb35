// The training-step graph's shortcuts (closed-form cross-entropy gradient, momentum folded into the weight-gradient Gemm) give the plain autodiff update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { SeededRng } from '../../../shared/util/prng.ts';
import { layoutOf } from '../../../shared/ml/layers.ts';
import type { ModelSpec } from '../../../shared/ml/model-spec.ts';
import { buildLossGraph, buildStepGraph, names } from '../../../shared/ml/train-graph.ts';

const spec: ModelSpec = { input: [6], classes: 4, layers: [{ type: 'dense', units: 5 }, { type: 'relu' }, { type: 'dense', units: 4 }] };
const f64 = (v: ArrayLike<number>, dims: number[]) => new ort.Tensor('float64', Float64Array.from(v), dims);
const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 };

test('one SGD-momentum step on cross-entropy equals autodiff gradients plus the reference update (float64)', async () => {
  const layout = layoutOf(spec);
  const rng = new SeededRng(3);
  const n = 5;
  const rand = (k: number) => Array.from({ length: k }, () => rng.normal() * 0.7);
  // Target rows that do not sum to 1 exercise the Σy factor of the closed form.
  const y = Array.from({ length: n * 4 }, () => rng.next());
  const feeds: Record<string, ort.Tensor> = { x: f64(rand(n * 6), [n, 6]), y_hard: f64(y, [n, 4]) };
  const params = layout.params.map((p) => rand(p.shape.reduce((a, b) => a * b, 1)));
  const velocity = layout.params.map((p) => rand(p.shape.reduce((a, b) => a * b, 1)));
  layout.params.forEach((p, i) => { feeds[names.param(p.name)] = f64(params[i]!, p.shape); });

  const grads = await (await ort.InferenceSession.create(buildLossGraph(layout, { kind: 'ce' }, 'float64', true).toModel(), opts)).run(feeds);
  // Gemm's beta is a float32 attribute: μ = 0.875 is exact in float32, so float64 results agree to 1e-12.
  const mu = 0.875, lr = 0.05;
  const stepGraph = buildStepGraph({ layout, loss: { kind: 'ce' }, optimizer: { kind: 'sgd', momentum: mu }, floatType: 'float64' });
  // The shortcuts are in the graph: Gemm nodes that accumulate the velocity, no differentiated LogSoftmax.
  assert.equal(stepGraph.nodes.filter((nd) => nd.op === 'Gemm' && nd.attrs.beta !== undefined).length, 4);
  assert.equal(stepGraph.nodes.filter((nd) => nd.op === 'Exp').length, 0);
  const stepFeeds: Record<string, ort.Tensor> = { ...feeds, lr: f64([lr], []), step: f64([1], []) };
  layout.params.forEach((p, i) => { stepFeeds[names.state(p.name, 'velocity')] = f64(velocity[i]!, p.shape); });
  const out = await (await ort.InferenceSession.create(stepGraph.toModel(), opts)).run(stepFeeds);

  layout.params.forEach((p, i) => {
    const g = grads[names.grad(p.name)]!.data as Float64Array;
    const v = out[names.next(names.state(p.name, 'velocity'))]!.data as Float64Array;
    const next = out[names.next(names.param(p.name))]!.data as Float64Array;
    for (let k = 0; k < g.length; k++) {
      const wantV = mu * velocity[i]![k]! + g[k]!;
      assert.ok(Math.abs(v[k]! - wantV) < 1e-12, `${p.name} velocity[${k}]: ${v[k]} vs ${wantV}`);
      assert.ok(Math.abs(next[k]! - (params[i]![k]! - lr * wantV)) < 1e-12, `${p.name}[${k}]`);
    }
  });
});
