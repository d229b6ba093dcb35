// Hostile or wrong teacher files (fixed batch, wrong dtype, extra inputs, no output, too big, failing or NaN runs) give E_ errors or work, never raw onnxruntime errors; NaN logits are never an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Dim, type DType, GraphBuilder } from '../../../shared/ml/graph.ts';
import * as op from '../../../shared/ml/ops.ts';
import { encodeModel } from '../../../shared/ml/onnx-proto.ts';
import { loadOnnxTeacher, type TeacherOptions } from '../../../shared/ml/inference.ts';
import { temperatureSoftmax } from '../../../client/reply-rows.ts';

/** A linear classifier x [inShape] → logits [N, 3], optionally with its input in another dtype, a second input or no output. */
function linear(inShape: Dim[], o: { dtype?: DType; secondInput?: boolean; noOutput?: boolean; post?: (g: GraphBuilder, y: ReturnType<typeof op.matmul>) => ReturnType<typeof op.matmul> } = {}): Uint8Array {
  const g = new GraphBuilder('teacher');
  let x = g.input('x', inShape, o.dtype ?? 'float32');
  if (o.secondInput) g.input('x2', ['N', 4]);
  if (o.dtype && o.dtype !== 'float32') x = op.cast(g, x, 'float32');
  const y = op.matmul(g, x, g.initializer('w', [4, 3], Array.from({ length: 12 }, (_, i) => (i - 5) / 7)));
  if (!o.noOutput) g.output(o.post ? o.post(g, y) : y, 'logits');
  return g.toModel();
}

const dir = mkdtempSync(join(tmpdir(), 'fedistill-hostile-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function file(bytes: Uint8Array): string {
  const p = join(dir, `t${files++}.onnx`);
  writeFileSync(p, bytes);
  return p;
}
const features = new Float32Array(5 * 4).map((_, i) => ((i * 7) % 11) / 11 - 0.4);

async function refusedAtLoad(bytes: Uint8Array, why: RegExp, o: TeacherOptions = {}): Promise<void> {
  const p = file(bytes);
  await assert.rejects(loadOnnxTeacher(p, o), (e: Error & { code?: string }) => e.code === 'E_TEACHER_INVALID' && e.message.includes(p) && why.test(e.message), String(why));
}

test('a teacher declared with a fixed batch (1, or 3 with a padded last batch) predicts what a dynamic-batch one does', async () => {
  const dynamic = await loadOnnxTeacher(file(linear(['N', 4])));
  const want = await dynamic.predict(features);
  for (const batch of [1, 3]) {
    const fixed = await loadOnnxTeacher(file(linear([batch, 4])));
    const got = await fixed.predict(features);
    assert.equal(got.classes, 3);
    assert.deepEqual(Array.from(got.logits), Array.from(want.logits), `fixed batch ${batch}`);
    assert.deepEqual(Array.from(got.probs), Array.from(want.probs));
    await fixed.release();
  }
  await dynamic.release();
});

test('wrong input dtype, several inputs, no output or a sample shape the model does not take are refused at load', async () => {
  await refusedAtLoad(linear(['N', 4], { dtype: 'float64' }), /input 'x' is float64; a teacher takes one float32 input/);
  await refusedAtLoad(linear(['N', 4], { dtype: 'int64' }), /input 'x' is int64/);
  await refusedAtLoad(linear(['N', 4], { secondInput: true }), /takes 2 inputs \(x, x2\)/);
  await refusedAtLoad(linear(['N', 4], { noOutput: true }), /has no outputs/);
  await refusedAtLoad(linear(['N', 4]), /declares input \[N, 4\], which does not take samples of shape \[2, 2\]/, { sampleShape: [2, 2] });
  // A matching explicit sample shape is fine.
  const ok = await loadOnnxTeacher(file(linear(['N', 4])), { sampleShape: [4] });
  assert.equal((await ok.predict(features)).classes, 3);
  await ok.release();
});

test('a file over maxBytes, a non-ONNX file and a custom-domain op are E_TEACHER_INVALID; a missing file E_TEACHER_NOT_FOUND', async () => {
  await refusedAtLoad(linear(['N', 4]), /bytes, over the limit of 100 for a teacher model; pass maxBytes/, { maxBytes: 100 });
  await refusedAtLoad(new TextEncoder().encode('not a model'), /not a model onnxruntime can load/);
  const g = new GraphBuilder('custom');
  g.output(g.node('Exfiltrate', [g.input('x', ['N', 4])], [{ shape: ['N', 4] }])[0]!, 'logits');
  const graph = g.toGraphData();
  await refusedAtLoad(encodeModel({ graph: { ...graph, nodes: graph.nodes.map((n) => ({ ...n, domain: 'com.example.custom' })) }, opset: 18 }), /not a model onnxruntime can load/);
  await assert.rejects(loadOnnxTeacher(join(dir, 'missing.onnx')), { code: 'E_TEACHER_NOT_FOUND' });
});

test('a teacher whose run fails is E_TEACHER_INVALID on predict; logits that are not finite are returned as they are, for the site to neutralise', async () => {
  // Reshape [N, 3] → [-1, 2]: 15 values do not make rows of 2, so the run fails inside onnxruntime.
  const failing = await loadOnnxTeacher(file(linear(['N', 4], { post: (g, y) => op.reshape(g, y, ['M', 2]) })), { sampleShape: [4] });
  await assert.rejects(failing.predict(features), (e: Error & { code?: string }) => e.code === 'E_TEACHER_INVALID' && /failed on a float32 batch \[5, 4\]/.test(e.message));
  await failing.release();
  const nan = await loadOnnxTeacher(file(linear(['N', 4], { post: (g, y) => op.log(g, y) })));
  // Whether a teacher gives NaN on a sample depends on what it learnt (private data): an error for
  // some queries and a reply for others would tell the aggregator that, uncharged. So no failure:
  const { logits } = await nan.predict(features);
  assert.equal(logits.length, 5 * 3);
  assert.ok(logits.some((v) => !Number.isFinite(v)) && logits.some(Number.isFinite), `some rows non-finite, some not: ${Array.from(logits)}`);
  // and the rows the site releases are probability rows whatever the logits (non-finite rows uniform)
  const rows = temperatureSoftmax(logits, 5, 3, 1);
  assert.ok(rows.every((v) => Number.isFinite(v) && v >= 0));
  await nan.release();
});
