// A teacher model may not keep tensor data in other files: onnxruntime would read whatever file it names
// (relative to the working directory for a model loaded from bytes), e.g. the site's secret key, into weights
// whose effect then leaves the site in votes and soft labels. Refused wherever in the model such a tensor sits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../../shared/ml/graph.ts';
import * as op from '../../../shared/ml/ops.ts';
import { findExternalTensor, MalformedModelError } from '../../../shared/ml/onnx-external-data.ts';
import { loadOnnxTeacher } from '../../../shared/ml/inference.ts';
import { ort } from '../../../shared/ml/runtime.ts';

// ---- a protobuf writer small enough to place a field anywhere ----
const utf8 = (s: string) => [...new TextEncoder().encode(s)];
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 128) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
const key = (field: number, wire: number) => varint(field * 8 + wire);
const int = (field: number, v: number) => [...key(field, 0), ...varint(v)];
const bytes = (field: number, b: number[]) => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, utf8(s));

/** TensorProto float [1, n] named `name`: its data in `location` (external_data, and data_location EXTERNAL unless `only` says which). */
function externalTensor(name: string, n: number, location: string, only?: 'entries' | 'flag'): number[] {
  return [
    ...int(1, 1), ...int(1, n), ...int(2, 1), ...str(8, name),
    ...(only === 'flag' ? [] : [...bytes(13, [...str(1, 'location'), ...str(2, location)]), ...bytes(13, [...str(1, 'length'), ...str(2, String(4 * n))])]),
    ...(only === 'entries' ? [] : int(14, 1)),
  ];
}
const inlineTensor = (name: string) => [...int(1, 1), ...int(2, 1), ...str(8, name), ...bytes(9, [0, 0, 128, 63])];
/** ValueInfoProto float with `dims` (numbers or symbolic names). */
const valueInfo = (name: string, dims: (number | string)[]) =>
  [...str(1, name), ...bytes(2, bytes(1, [...int(1, 1), ...bytes(2, dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d))))]))];
/** ModelProto (IR 8, opset 13) around GraphProto fields `graph`, plus any more ModelProto fields. */
const model = (graph: number[], more: number[] = []) => Uint8Array.from([...int(1, 8), ...bytes(7, graph), ...bytes(8, int(2, 13)), ...more]);

/** Y = X + W with W [1, n] an initializer stored in `location`, also declared an input (so no optimizer folds it away). */
function addExternal(n: number, location: string): Uint8Array {
  return model(addExternalGraph(n, location));
}
function addExternalGraph(n: number, location: string): number[] {
  return [
    ...bytes(1, [...str(1, 'X'), ...str(1, 'W'), ...str(2, 'Y'), ...str(4, 'Add')]), ...str(2, 'g'),
    ...bytes(5, externalTensor('W', n, location)),
    ...bytes(11, valueInfo('X', ['N', n])), ...bytes(11, valueInfo('W', [1, n])), ...bytes(12, valueInfo('Y', ['N', n])),
  ];
}
/** The same model with ModelProto.graph's key written as a 5-byte varint plus 2^32: protobuf keeps a key's low 32 bits. */
function addExternalLongKey(n: number, location: string): Uint8Array {
  const graph = addExternalGraph(n, location);
  return Uint8Array.from([...int(1, 8), ...varint(7 * 8 + 2 + 2 ** 32), ...varint(graph.length), ...graph, ...bytes(8, int(2, 13))]);
}

const dir = mkdtempSync(join(tmpdir(), 'fedistill-external-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('onnxruntime reads an external tensor from a file in the working directory; loadOnnxTeacher refuses the model before it can', async () => {
  const n = 4;
  const secret = Float32Array.from([3.25, -7.5, 1e6, 42]);
  // a file the site can read, named relative to the working directory (onnxruntime refuses absolute paths and `..`)
  const name = `fedistill-secret-${process.pid}.bin`;
  writeFileSync(name, secret);
  try {
    const evil = addExternal(n, name);
    // the threat: onnxruntime, given the bytes, loads the file's contents as W; also with the graph's
    // key padded past 32 bits, which a walker reading keys as whole numbers skipped as an unknown field
    for (const [what, bytes] of [['plain', evil], ['graph key + 2^32', addExternalLongKey(n, name)]] as const) {
      const session = await ort.InferenceSession.create(bytes);
      const out = await session.run({ X: new ort.Tensor('float32', new Float32Array(n), [1, n]) });
      assert.deepEqual(Array.from(out.Y!.data as Float32Array), Array.from(secret), `${what}: onnxruntime read the named file into the weights`);
      await session.release();
      // the teacher loader refuses it, naming the tensor and the file
      const path = join(dir, 'evil.onnx');
      writeFileSync(path, bytes);
      await assert.rejects(loadOnnxTeacher(path, { sampleShape: [n], classes: n }), (e: Error & { code?: string }) =>
        e.code === 'E_TEACHER_INVALID' && e.message.includes(path) && e.message.includes(`tensor "W" stored in external file "${name}"`) && /must carry all its data/.test(e.message), what);
    }
  } finally {
    rmSync(name, { force: true });
  }
});

test('an external tensor is found wherever a model can hold one, by its external_data entries or its data_location alone', () => {
  const ext = (only?: 'entries' | 'flag') => externalTensor('T', 2, 'key.bin', only);
  const attribute = (fields: number[]) => bytes(5, [...str(1, 'value'), ...fields]);
  const node = (attrs: number[], field = 1) => bytes(field, [...str(2, 'out'), ...str(4, 'Constant'), ...attrs]); // GraphProto.node 1, FunctionProto.node 7
  const sparse = (t: number[]) => bytes(15, [...bytes(1, t), ...bytes(2, inlineTensor('idx')), ...int(3, 2)]);
  const subgraph = (inner: number[]) => node(bytes(5, [...str(1, 'then_branch'), ...bytes(6, inner)]));
  const places: Record<string, Uint8Array> = {
    'an initializer': model(bytes(5, ext())),
    'an initializer, external_data entries only': model(bytes(5, ext('entries'))),
    'an initializer, data_location only': model(bytes(5, ext('flag'))),
    "a Constant's tensor attribute": model(node(attribute(bytes(5, ext())))),
    "an attribute's tensor list, second of two": model(node(attribute([...bytes(10, inlineTensor('a')), ...bytes(10, ext())]))),
    'a sparse initializer': model(sparse(ext())),
    "a sparse tensor attribute's values": model(node(attribute(bytes(22, [...bytes(1, ext()), ...bytes(2, inlineTensor('i'))])))),
    'a subgraph (If branch) initializer': model(subgraph(bytes(5, ext()))),
    'a subgraph of a subgraph': model(subgraph(subgraph(bytes(5, ext())))),
    "a graph list attribute": model(node(bytes(5, [...str(1, 'branches'), ...bytes(11, bytes(5, inlineTensor('a'))), ...bytes(11, bytes(5, ext()))]))),
    "a local function's node": model([], bytes(25, [...str(1, 'f'), ...node(attribute(bytes(5, ext())), 7)])),
    "a local function's attribute default": model([], bytes(25, [...str(1, 'f'), ...bytes(11, [...str(1, 'a'), ...bytes(5, ext())])])),
    'a training graph': model([], bytes(20, bytes(1, bytes(5, ext())))),
  };
  // keys and enum values past 32 bits, as protobuf reads them: low 32 bits
  places['data_location written as 1 + 2^32'] = model(bytes(5, [...int(1, 2), ...int(2, 1), ...str(8, 'T'), ...key(14, 0), ...varint(1 + 2 ** 32)]));
  places['external_data key + 2^32'] = model(bytes(5, [...int(1, 2), ...int(2, 1), ...str(8, 'T'), ...varint(13 * 8 + 2 + 2 ** 32), ...varint(utf8('\n\x08location\x12\x07key.bin').length), ...utf8('\n\x08location\x12\x07key.bin')]));
  for (const [where, m] of Object.entries(places)) {
    const found = findExternalTensor(m);
    assert.ok(found?.startsWith('tensor "T" stored in external file'), `${where}: ${found}`);
    if (!/data_location/.test(where)) assert.match(found!, /"key\.bin"/, where);
  }
});

test('models that carry all their data pass: inline tensors, and the graphs the engine builds', () => {
  assert.equal(findExternalTensor(model([...bytes(5, inlineTensor('w')), ...bytes(1, [...str(4, 'Constant'), ...bytes(5, [...str(1, 'value'), ...bytes(5, inlineTensor('c'))])])])), undefined);
  const g = new GraphBuilder('teacher');
  const x = g.input('x', ['N', 4]);
  g.output(op.matmul(g, x, g.initializer('w', [4, 3], Array.from({ length: 12 }, (_, i) => i / 12))), 'logits');
  assert.equal(findExternalTensor(g.toModel()), undefined);
});

test('bytes that are not a protobuf message, or nest deeper than 100 levels, are MalformedModelError; the teacher loader says E_TEACHER_INVALID', async () => {
  const good = model(bytes(5, inlineTensor('w')));
  // truncated, a group (wire type 3), a truncated varint, field 0, a key longer than protobuf's 5 bytes
  for (const bad of [good.subarray(0, good.length - 3), Uint8Array.from([...good, 0x0b]), Uint8Array.from([0x80, 0x80, 0x80]), Uint8Array.from([0x00, 0x01]), Uint8Array.from([0xba, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00])]) {
    assert.throws(() => findExternalTensor(bad), MalformedModelError);
  }
  let nested = bytes(5, inlineTensor('w'));
  for (let i = 0; i < 60; i++) nested = bytes(1, bytes(5, [...str(1, 'g'), ...bytes(6, nested)])); // node → attribute → graph: 2 levels each
  assert.throws(() => findExternalTensor(model(nested)), /deeper than 100/);
  // an ORT-format model (flatbuffer, "ORTM" at offset 4) is loaded by another reader: refused, not walked
  const ort4 = join(dir, 'model.ort');
  writeFileSync(ort4, Uint8Array.from([0x14, 0, 0, 0, ...new TextEncoder().encode('ORTM'), 0, 0, 0, 0]));
  await assert.rejects(loadOnnxTeacher(ort4), (e: Error & { code?: string }) => e.code === 'E_TEACHER_INVALID' && /is an ORT-format model/.test(e.message));
  const path = join(dir, 'truncated.onnx');
  writeFileSync(path, good.subarray(0, good.length - 3));
  await assert.rejects(loadOnnxTeacher(path), (e: Error & { code?: string }) => e.code === 'E_TEACHER_INVALID' && /not a well-formed ONNX protobuf/.test(e.message));
});
