// The ONNX encoder yields models stock onnxruntime loads; device requests resolve or fail clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../shared/ml/graph.ts';
import * as op from '../../../shared/ml/ops.ts';
import { resolveDevice, providerProblem } from '../../../shared/ml/runtime.ts';
import { lrAt } from '../../../shared/ml/lr-schedule.ts';

test('an encoded graph with attributes, int64 constants and negative axes runs in onnxruntime', async () => {
  const g = new GraphBuilder('enc');
  const x = g.input('x', ['N', 2, 3]);
  const y = op.reduceSum(g, op.softmax(g, x, -1), [-1]);
  g.output(op.transpose(g, y, [1, 0]), 'y');
  const s = await ort.InferenceSession.create(g.toModel({ note: 'test' }));
  const out = await s.run({ x: new ort.Tensor('float32', new Float32Array(12).map((_, i) => i), [2, 2, 3]) });
  assert.deepEqual(out.y!.dims, [2, 2]);
  for (const v of out.y!.data as Float32Array) assert.ok(Math.abs(v - 1) < 1e-6);
});

test('shape mismatches are caught while building, with E_SHAPE_MISMATCH', () => {
  const g = new GraphBuilder('bad');
  assert.throws(() => op.add(g, g.input('a', ['N', 3]), g.input('b', [4])), { code: 'E_SHAPE_MISMATCH' });
  assert.throws(() => op.gemm(g, g.input('c', ['N', 3]), g.input('d', [4, 2]), undefined), { code: 'E_SHAPE_MISMATCH' });
});

test('cpu resolves; an unknown device is a usage error; a missing provider says how to get it', async () => {
  assert.equal(await resolveDevice('cpu'), 'cpu');
  assert.ok(['cpu', 'webgpu', 'cuda'].includes(await resolveDevice('auto')));
  await assert.rejects(resolveDevice('tpu' as never), { code: 'E_UNKNOWN_DEVICE' });
  if (await providerProblem('cuda')) {
    await assert.rejects(resolveDevice('cuda'), { code: 'E_DEVICE_UNAVAILABLE', message: /ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node/ });
  } else assert.equal(await resolveDevice('cuda'), 'cuda');
});

test('learning-rate schedules: step decays by gamma, cosine goes from base to min', () => {
  assert.equal(lrAt({ kind: 'step', everyEpochs: 2, gamma: 0.5 }, 1, 3.5), 0.5);
  assert.equal(lrAt({ kind: 'cosine', totalEpochs: 4 }, 1, 0), 1);
  assert.ok(Math.abs(lrAt({ kind: 'cosine', totalEpochs: 4, minLr: 0.1 }, 1, 2) - 0.55) < 1e-12);
  assert.equal(lrAt({ kind: 'cosine', totalEpochs: 4, minLr: 0.1 }, 1, 4), 0.1);
});
