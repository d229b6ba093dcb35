// The training-step graph: its shortcuts (closed-form cross-entropy gradient, momentum folded into the weight-gradient Gemm) give the plain autodiff update, and it uses only ops a GPU provider keeps on the device.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { SeededRng } from '../../../shared/util/prng.ts';
import { layoutOf } from '../../../shared/ml/layers.ts';
import type { ModelSpec } from '../../../shared/ml/model-spec.ts';
import { buildLossGraph, buildStepGraph, emitForward, names } from '../../../shared/ml/train-graph.ts';
import { GraphBuilder } from '../../../shared/ml/graph.ts';
import * as op from '../../../shared/ml/ops.ts';
import { buildModel } from '../../../shared/ml/model.ts';
import { stackedRowFeeds } from '../../../shared/ml/step-feeds.ts';

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
  // The shortcuts are in the graph: Gemm nodes that accumulate the velocity, and one Exp (the
  // forward log-softmax's): the loss is not differentiated.
  const velocities = new Set(layout.params.map((p) => names.state(p.name, 'velocity')));
  assert.equal(stepGraph.nodes.filter((nd) => nd.op === 'Gemm' && velocities.has(nd.inputs[2]?.name ?? '')).length, 4);
  assert.equal(stepGraph.nodes.filter((nd) => nd.op === 'Exp').length, 1);
  const stepFeeds: Record<string, ort.Tensor> = { ...feeds, lr: f64([lr], []), step: f64([1], []), metrics: f64([1.5, 2], [2]) };
  layout.params.forEach((p, i) => { stepFeeds[names.state(p.name, 'velocity')] = f64(velocity[i]!, p.shape); });
  const out = await (await ort.InferenceSession.create(stepGraph.toModel(), opts)).run(stepFeeds);

  // The running sums grow by this batch's loss × rows and its argmax agreements.
  const metrics = out[names.next('metrics')]!.data as Float64Array;
  assert.ok(Math.abs(metrics[0]! - (1.5 + n * Number(grads.loss!.data[0]))) < 1e-12, `loss sum ${metrics[0]}`);
  const fwd = new GraphBuilder('forward', 'float64');
  fwd.output(emitForward(fwd, layout, { train: false }).logits, 'logits');
  const logits = (await (await ort.InferenceSession.create(fwd.toModel(), opts)).run(feeds)).logits!.data as Float64Array;
  const argmax = (v: ArrayLike<number>, row: number) => { let best = 0; for (let c = 1; c < 4; c++) if (v[row * 4 + c]! > v[row * 4 + best]!) best = c; return best; };
  const agree = Array.from({ length: n }, (_, r) => argmax(logits, r) === argmax(y, r)).filter(Boolean).length;
  assert.equal(metrics[1], 2 + agree);
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

test('with one-hot targets the step takes its shortcuts (fewer nodes) and gives the general step\'s update and metrics, ties included', async () => {
  const cnn: ModelSpec = { input: [1, 6, 6], classes: 4, layers: [{ type: 'conv2d', filters: 2, kernel: 3 }, { type: 'relu' }, { type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 4 }] };
  // float64 for the MLP; onnxruntime's CPU has no float64 Conv, so the cnn compares float32 graphs.
  for (const [s, floatType, tol] of [[spec, 'float64', 1e-12], [cnn, 'float32', 1e-5]] as const) {
    const layout = layoutOf(s);
    const rng = new SeededRng(5);
    const t = (v: number[], dims: number[]) => (floatType === 'float64' ? f64(v, dims) : new ort.Tensor('float32', Float32Array.from(v), dims));
    const n = 6, inSize = s.input.reduce((a, b) => a * b, 1);
    const labels = [0, 3, 1, 0, 2, 0];
    const base = { layout, loss: { kind: 'ce' } as const, optimizer: { kind: 'sgd', momentum: 0.5 } as const, floatType };
    const general = buildStepGraph(base), shortcut = buildStepGraph({ ...base, oneHotTargets: true });
    assert.ok(shortcut.nodes.length <= general.nodes.length - 9, `${shortcut.nodes.length} vs ${general.nodes.length} nodes`);
    const [a, b] = await Promise.all([general, shortcut].map((g) => ort.InferenceSession.create(g.toModel(), opts)));
    // Random weights, then all-zero weights: every logit ties, and the first class is the prediction.
    for (const scale of [0.7, 0]) {
      const feeds: Record<string, ort.Tensor> = {
        x: t(Array.from({ length: n * inSize }, () => rng.normal()), [n, ...s.input]),
        y_hard: t(labels.flatMap((l) => [0, 1, 2, 3].map((c) => +(c === l))), [n, 4]),
        lr: t([0.1], []), step: t([1], []), metrics: t([0.25, 1], [2]),
      };
      for (const p of layout.params) {
        const size = p.shape.reduce((x, y) => x * y, 1);
        feeds[names.param(p.name)] = t(Array.from({ length: size }, () => rng.normal() * scale), p.shape);
        feeds[names.state(p.name, 'velocity')] = t(Array.from({ length: size }, () => rng.normal()), p.shape);
      }
      const [want, got] = await Promise.all([a!.run(feeds), b!.run(feeds)]);
      for (const name of a!.outputNames) {
        const w = want[name]!.data as Float64Array, h = got[name]!.data as Float64Array;
        for (let k = 0; k < w.length; k++) assert.ok(Math.abs(w[k]! - h[k]!) <= tol * Math.max(1, Math.abs(w[k]!)), `${s.layers.length} layers, scale ${scale}, ${name}[${k}]: ${h[k]} vs ${w[k]}`);
      }
      if (scale === 0) assert.equal(got[names.next('metrics')]!.data[1], 1 + 3); // three rows are labelled 0
    }
  }
});

// Ops that onnxruntime-node 1.30's WebGPU provider runs on the CPU (no kernel, or none for int64),
// as its node placement log showed: each one in a step graph is a GPU→CPU copy and wait per step.
const CPU_ON_WEBGPU = new Set(['LogSoftmax', 'ArgMax', 'ConstantOfShape', 'Size', 'Sign']);
const SHAPE_OPS = new Set(['Shape', 'Size', 'Gather', 'Concat', 'Cast', 'Reshape', 'Unsqueeze', 'Expand', 'Slice', 'Pad']);

test('step graphs keep every value on the device: no LogSoftmax/ArgMax, int64 only in shape arithmetic', () => {
  const cnn: ModelSpec = { input: [1, 8, 8], classes: 4, layers: [{ type: 'conv2d', filters: 3, kernel: 3 }, { type: 'relu' }, { type: 'maxpool2d', size: 2 }, { type: 'flatten' }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 4 }] };
  const losses = [{ kind: 'ce' }, { kind: 'distill', soft: 'kl', targets: 'logits', hardWeight: 0.3 }, { kind: 'distill', soft: 'mse', targets: 'logits', hardWeight: 0 }] as const;
  for (const s of [spec, cnn]) for (const loss of losses) for (const optimizer of [{ kind: 'sgd', momentum: 0.9 }, { kind: 'adam' }] as const) for (const oneHotTargets of [false, true]) {
    const g = buildStepGraph({ layout: layoutOf(s), loss, optimizer, oneHotTargets });
    const what = `${s.layers.length} layers, ${JSON.stringify(loss)}, ${optimizer.kind}, one-hot ${oneHotTargets}`;
    assert.deepEqual(g.nodes.filter((n) => CPU_ON_WEBGPU.has(n.op)).map((n) => n.op), [], what);
    for (const n of g.nodes) {
      if (n.outputs.some((o) => o.dtype === 'int64')) assert.ok(SHAPE_OPS.has(n.op), `${what}: ${n.op} makes int64 values`);
    }
  }
});

test('argmaxFloat is ArgMax (first maximum on ties) and logSoftmaxParts is LogSoftmax/−LogSoftmax/Softmax, also for extreme logits', async () => {
  const g = new GraphBuilder('check', 'float64');
  const x = g.input('x', ['N', 4]);
  const parts = op.logSoftmaxParts(g, x);
  g.output(op.cast(g, op.argmax(g, x, 1), 'float64'), 'want_idx');
  g.output(op.argmaxFloat(g, x), 'idx');
  g.output(op.logSoftmax(g, x), 'want_logp');
  g.output(parts.logp(), 'logp');
  g.output(op.neg(g, op.logSoftmax(g, x)), 'want_nll');
  g.output(parts.nll(), 'nll');
  g.output(op.softmax(g, x), 'want_p');
  g.output(parts.p(), 'p');
  const rows = [[1, 3, 3, 0], [5, 5, 5, 5], [-1, -2, -3, -0.5], [1000, -1000, 999, 0], [-800, -801, -900, -799], [0.1, 0.2, 0.3, 0.30000001]];
  const out = await (await ort.InferenceSession.create(g.toModel(), opts)).run({ x: f64(rows.flat(), [rows.length, 4]) });
  assert.deepEqual(Array.from(out.idx!.data as Float64Array), Array.from(out.want_idx!.data as Float64Array));
  assert.deepEqual(Array.from(out.idx!.data as Float64Array), [1, 0, 3, 0, 3, 3]);
  for (const k of ['logp', 'nll', 'p']) {
    const got = out[k]!.data as Float64Array, want = out[`want_${k}`]!.data as Float64Array;
    for (let i = 0; i < got.length; i++) assert.ok(Number.isFinite(got[i]!) && Math.abs(got[i]! - want[i]!) < 1e-12, `${k}[${i}]: ${got[i]} vs ${want[i]}`);
  }
});

test('a graph of 3 unrolled steps (gathered rows, Adam, batchnorm, dropout) gives what 3 one-step runs give (float64)', async () => {
  const s: ModelSpec = { input: [6], classes: 4, layers: [{ type: 'dense', units: 5 }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'dropout', rate: 0.3 }, { type: 'dense', units: 4 }] };
  const layout = layoutOf(s);
  const rng = new SeededRng(11);
  const m = 20, n = 4, k = 3;
  const rand = (len: number) => Array.from({ length: len }, () => rng.normal() * 0.7);
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const base = { layout, loss: { kind: 'ce' } as const, optimizer: { kind: 'adam' } as const, floatType: 'float64' as const, gatherRows: true };
  const one = await ort.InferenceSession.create(buildStepGraph(base).toModel(), opts);
  const three = await ort.InferenceSession.create(buildStepGraph({ ...base, steps: k }).toModel(), opts);
  const all = { 'all:x': f64(rand(m * 6), [m, 6]), 'all:y_hard': f64(Array.from({ length: m * 4 }, (_, i) => +(i % 4 === (i >> 2) % 4)), [m, 4]) };
  const rows = Array.from({ length: k }, () => new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(rng.int(m))), [n]));
  const masks = Array.from({ length: k }, () => f64(Array.from({ length: n * 5 }, () => (rng.next() < 0.3 ? 0 : 1 / 0.7)), [n, 5]));
  const maskName = names.mask(layout.dropouts[0]!.name);
  let state: Record<string, ort.Tensor> = {};
  for (const name of one.inputNames) {
    const p = layout.params.find((q) => name === names.param(q.name) || name.startsWith(`opt:${q.name}:`));
    const b = layout.buffers.find((q) => name === names.buffer(q.name));
    const shape = p?.shape ?? b?.shape;
    if (shape) state[name] = f64(name.includes(':v') || name.includes(':m') ? rand(size(shape)).map(Math.abs) : rand(size(shape)), [...shape]);
  }
  const common = { lr: f64([0.01], []), step: f64([4], []), metrics: f64([0, 0], [2]) };
  const state0 = state;
  const unrolled = await three.run({ ...all, ...state, ...common, ...Object.fromEntries(rows.flatMap((r, i) => [[`rows@${i}`, r], [`${maskName}@${i}`, masks[i]!]])) });
  let metrics: ort.Tensor = common.metrics;
  for (let i = 0; i < k; i++) {
    const out = await one.run({ ...all, ...state, ...common, step: f64([4 + i], []), metrics, rows: rows[i]!, [maskName]: masks[i]! });
    state = Object.fromEntries(Object.keys(state).map((name) => [name, out[names.next(name)] ?? state[name]!]));
    metrics = out[names.next('metrics')]!;
  }
  const outputs = [...Object.keys(state).filter((name) => three.outputNames.includes(names.next(name))), 'metrics'];
  assert.ok(outputs.length >= layout.params.length * 3 + layout.buffers.length + 1, outputs.join(','));
  for (const name of outputs) {
    const want = (name === 'metrics' ? metrics : state[name]!).data as Float64Array;
    const got = unrolled[names.next(name)]!.data as Float64Array;
    for (let j = 0; j < want.length; j++) assert.ok(Math.abs(got[j]! - want[j]!) < 1e-12, `${name}[${j}]: ${got[j]} vs ${want[j]}`);
  }
  // Data not resident on a GPU: the same graph fed the run's own K batches stacked as its columns
  // (stackedRowFeeds) gives the same steps, exactly.
  const gather = (t: ort.Tensor, width: number, r: ort.Tensor) => {
    const src = t.data as Float64Array, ids = r.data as BigInt64Array;
    return f64(Array.from(ids).flatMap((id) => Array.from(src.subarray(Number(id) * width, (Number(id) + 1) * width))), [ids.length, width]);
  };
  const hostBatches = rows.map((r) => ({ x: gather(all['all:x'], 6, r), y_hard: gather(all['all:y_hard'], 4, r) }));
  const stacked = stackedRowFeeds(hostBatches);
  assert.deepEqual(stacked.map((f) => Object.keys(f).sort()), rows.map(() => ['all:x', 'all:y_hard', 'rows']));
  assert.deepEqual(stacked[0]!['all:x']!.dims, [k * n, 6]);
  assert.deepEqual(Array.from(stacked[2]!.rows!.data as BigInt64Array, Number), [8, 9, 10, 11]);
  const fromHost = await three.run({ ...state0, ...common, 'all:x': stacked[0]!['all:x']!, 'all:y_hard': stacked[0]!['all:y_hard']!, ...Object.fromEntries(stacked.flatMap((f, i) => [[`rows@${i}`, f.rows!], [`${maskName}@${i}`, masks[i]!]])) });
  for (const name of three.outputNames) assert.deepEqual(Array.from(fromHost[name]!.data as Float64Array), Array.from(unrolled[name]!.data as Float64Array), name);
  assert.throws(() => buildStepGraph({ ...base, gatherRows: false, steps: 2 }), /needs gatherRows/);
});

test('batchnorm running statistics follow PyTorch: mean, and the unbiased batch variance n/(n−1) (dense and spatial, float64)', async () => {
  for (const s of [
    { input: [3], classes: 2, layers: [{ type: 'batchnorm' }, { type: 'dense', units: 2 }] },
    { input: [2, 3, 2], classes: 2, layers: [{ type: 'batchnorm' }, { type: 'flatten' }, { type: 'dense', units: 2 }] },
  ] as ModelSpec[]) {
    const layout = layoutOf(s);
    const rng = new SeededRng(9);
    const n = 5, c = s.input[0]!, per = s.input.slice(1).reduce((a, b) => a * b, 1), mom = 0.1;
    const x = Array.from({ length: n * c * per }, () => rng.normal() * 2 + 1);
    const feeds: Record<string, ort.Tensor> = {
      x: f64(x, [n, ...s.input]), y_hard: f64(Array.from({ length: n * 2 }, (_, i) => +(i % 2 === 0)), [n, 2]),
      lr: f64([0.1], []), step: f64([1], []), metrics: f64([0, 0], [2]),
    };
    for (const p of layout.params) feeds[names.param(p.name)] = f64(Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), p.shape);
    const before = { mean: Array.from({ length: c }, () => rng.normal()), var: Array.from({ length: c }, () => 1 + rng.next()) };
    const [meanBuf, varBuf] = layout.buffers.map((b) => b.name);
    feeds[names.buffer(meanBuf!)] = f64(before.mean, [c]);
    feeds[names.buffer(varBuf!)] = f64(before.var, [c]);
    const out = await (await ort.InferenceSession.create(buildStepGraph({ layout, loss: { kind: 'ce' }, optimizer: { kind: 'sgd' }, floatType: 'float64' }).toModel(), opts)).run(feeds);
    const gotMean = out[names.next(names.buffer(meanBuf!))]!.data as Float64Array, gotVar = out[names.next(names.buffer(varBuf!))]!.data as Float64Array;
    for (let ch = 0; ch < c; ch++) {
      const vals: number[] = [];
      for (let i = 0; i < n; i++) for (let k = 0; k < per; k++) vals.push(x[(i * c + ch) * per + k]!);
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      const unbiased = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / (vals.length - 1);
      assert.ok(Math.abs(gotMean[ch]! - ((1 - mom) * before.mean[ch]! + mom * mean)) < 1e-12, `mean[${ch}]`);
      assert.ok(Math.abs(gotVar[ch]! - ((1 - mom) * before.var[ch]! + mom * unbiased)) < 1e-12, `var[${ch}]: ${gotVar[ch]} vs ${(1 - mom) * before.var[ch]! + mom * unbiased}`);
    }
  }
});

test('no node of a step graph repeats another (same op, inputs and attributes): on a GPU each would be one more kernel per step', () => {
  for (const model of ['mlp', 'cnn'] as const) {
    for (const [optimizer, forGpu] of [[{ kind: 'sgd', momentum: 0.9 }, false], [{ kind: 'adam' }, false], [{ kind: 'sgd', momentum: 0.9 }, true]] as const) {
      const g = buildStepGraph({ layout: buildModel(model, { seed: 1 }).layout, loss: { kind: 'ce' }, optimizer, oneHotTargets: true, gatherRows: true, forGpu });
      const seen = new Map<string, number>();
      g.nodes.forEach((n, i) => {
        const key = `${n.op}(${n.inputs.map((t) => t?.name ?? '').join(',')}) ${JSON.stringify(n.attrs ?? {})}`;
        assert.equal(seen.get(key), undefined, `${model}, ${optimizer.kind}${forGpu ? ', for a GPU' : ''}: node ${i} repeats node ${seen.get(key)}: ${key}`);
        seen.set(key, i);
      });
    }
  }
});
