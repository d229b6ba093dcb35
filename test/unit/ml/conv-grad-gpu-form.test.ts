// The GPU form of a convolution's weight gradient (a batched MatMul over samples, then a ReduceSum)
// gives the CPU form's values, and passes the finite-difference check on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { gradCheck } from './gradcheck.ts';
import type { ModelSpec } from '../../../shared/ml/model-spec.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import { layoutOf } from '../../../shared/ml/layers.ts';
import { buildLossGraph, buildStepGraph, names } from '../../../shared/ml/train-graph.ts';

const head = [{ type: 'flatten' }, { type: 'dense', units: 3 }] as const;
const specs: [string, ModelSpec][] = [
  ['two convs, padding 1 then none', { input: [2, 6, 6], classes: 3, layers: [{ type: 'conv2d', filters: 3, kernel: 3, padding: 1 }, { type: 'relu' }, { type: 'conv2d', filters: 2, kernel: 3 }, ...head] }],
  ['stride 2, padding 1, non-square', { input: [3, 5, 7], classes: 3, layers: [{ type: 'conv2d', filters: 2, kernel: 3, stride: 2, padding: 1 }, ...head] }],
  ['stride 3, padding 2, non-square kernel field', { input: [1, 8, 5], classes: 3, layers: [{ type: 'conv2d', filters: 4, kernel: 2, stride: 3, padding: 2 }, ...head] }],
];

for (const [name, spec] of specs) {
  test(`conv weight gradient, GPU form = CPU form (${name})`, async () => {
    const layout = layoutOf(spec);
    const rng = new SeededRng(11);
    const n = 4;
    const t = (k: number, dims: number[]) => new ort.Tensor('float32', Float32Array.from({ length: k }, () => rng.normal()), dims);
    const feeds: Record<string, ort.Tensor> = { x: t(n * spec.input.reduce((a, b) => a * b, 1), [n, ...spec.input]) };
    for (const p of layout.params) feeds[names.param(p.name)] = t(p.shape.reduce((a, b) => a * b, 1), p.shape);
    const y = new Float32Array(n * 3); for (let i = 0; i < n; i++) y[i * 3 + rng.int(3)] = 1;
    feeds.y_hard = new ort.Tensor('float32', y, [n, 3]);
    const run = async (forGpu: boolean) => {
      const g = buildLossGraph(layout, { kind: 'ce' }, 'float32', true, true, forGpu);
      // The GPU form is what runs: one batched MatMul per conv, no Gemm over the im2col rows.
      const convs = spec.layers.filter((l) => l.type === 'conv2d').length;
      assert.equal(g.nodes.filter((x) => x.op === 'MatMul' && x.outputs[0]!.shape.length === 3).length, forGpu ? convs : 0);
      const s = await ort.InferenceSession.create(g.toModel(), { graphOptimizationLevel: 'disabled' });
      return s.run(feeds);
    };
    const [cpu, gpu] = [await run(false), await run(true)];
    for (const p of layout.params) {
      const a = cpu[names.grad(p.name)]!.data as Float32Array, b = gpu[names.grad(p.name)]!.data as Float32Array;
      assert.deepEqual(gpu[names.grad(p.name)]!.dims, cpu[names.grad(p.name)]!.dims);
      const scale = Math.max(...a.map(Math.abs));
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-5 * scale, `${p.name}[${i}]: ${b[i]} vs ${a[i]}`);
    }
  });

  test(`conv weight gradient, GPU form, matches finite differences (${name})`, async () => {
    const r = await gradCheck(spec, { kind: 'ce' }, 'float32', { samples: 6, forGpu: true });
    assert.ok(r.checked > 0);
    assert.ok(r.worst <= 1, r.details.join('\n'));
  });
}

test('the step graph takes the GPU form only when built for a GPU', () => {
  const spec = specs[0]![1];
  const count = (forGpu: boolean) => buildStepGraph({ layout: layoutOf(spec), loss: { kind: 'ce' }, optimizer: { kind: 'sgd', momentum: 0.9 }, gatherRows: true, forGpu })
    .nodes.filter((x) => x.op === 'MatMul' && x.outputs[0]!.shape.length === 3).length;
  assert.equal(count(false), 0);
  assert.equal(count(true), 2);
});
