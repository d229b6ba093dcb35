// An external ONNX teacher's output is checked against the data: class count per sample and float32, with the model file named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../../shared/ml/graph.ts';
import * as op from '../../../shared/ml/ops.ts';
import { loadOnnxTeacher } from '../../../shared/ml/inference.ts';

/** A linear classifier [N, 4] → [N, classes], its logits cast to `dtype`. */
function teacherBytes(classes: number, dtype: 'float32' | 'float64' = 'float32'): Uint8Array {
  const g = new GraphBuilder('teacher');
  const x = g.input('x', ['N', 4]);
  const w = g.initializer('w', [4, classes], Array.from({ length: 4 * classes }, (_, i) => (i % 7) / 7));
  const logits = op.matmul(g, x, w);
  g.output(dtype === 'float32' ? logits : op.cast(g, logits, 'float64'), 'logits');
  return g.toModel();
}

async function withTeacher(bytes: Uint8Array, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-teacher-'));
  try {
    const p = join(dir, 'teacher.onnx');
    writeFileSync(p, bytes);
    await fn(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const features = new Float32Array(5 * 4).map((_, i) => (i % 5) / 5);

test('a teacher with the expected classes predicts; one with another class count is E_TEACHER_INVALID naming file, expected and actual', async () => {
  await withTeacher(teacherBytes(3), async (p) => {
    const ok = await loadOnnxTeacher(p, { sampleShape: [4], classes: 3 });
    const got = await ok.predict(features);
    assert.equal(got.classes, 3);
    assert.equal(got.logits.length, 15);
    await ok.release();
    const wrong = await loadOnnxTeacher(p, { sampleShape: [4], classes: 10 });
    await assert.rejects(wrong.predict(features), (e: Error & { code?: string }) =>
      e.code === 'E_TEACHER_INVALID' && e.message.includes(p) && /has 3 classes per sample, expected 10/.test(e.message));
    await wrong.release();
  });
});

test('a teacher whose logits are not float32 is refused, not silently converted', async () => {
  await withTeacher(teacherBytes(3, 'float64'), async (p) => {
    const t = await loadOnnxTeacher(p, { sampleShape: [4], classes: 3 });
    await assert.rejects(t.predict(features), (e: Error & { code?: string }) =>
      e.code === 'E_TEACHER_INVALID' && e.message.includes(p) && /is float64, expected float32/.test(e.message));
    await t.release();
  });
});
