// Finds tensors whose data an ONNX model keeps outside itself ("external data"), before onnxruntime loads it.
//
// onnxruntime reads an external tensor's bytes from the file its `location` names. For a model loaded
// from bytes, onnxruntime-node 1.30 resolves a relative location against the process's working
// directory (it refuses absolute paths and `..`): a teacher model brought by someone else could name
// the site's secret key, load its bytes as weights and so shape the votes and soft labels that leave
// the site. A teacher must carry all its data, so any external tensor is refused.
//
// The walk reads only the fields that can hold a TensorProto (ONNX's onnx.proto, IR version ≤ 10):
//   ModelProto: graph 7, training_info 20, functions 25
//   GraphProto: node 1, initializer 5, sparse_initializer 15
//   NodeProto: attribute 5          FunctionProto: node 7, attribute_proto 11
//   AttributeProto: t 5, g 6, tensors 10, graphs 11, sparse_tensor 22, sparse_tensors 23
//   TrainingInfoProto: initialization 1, algorithm 2
//   SparseTensorProto: values 1, indices 2
//   TensorProto: name 8, external_data 13, data_location 14 (1 = EXTERNAL)
// and skips every other field without copying it, so a 1 GiB model is scanned in one pass.

/** Subgraphs nest through attributes; onnxruntime's protobuf parser stops at 100 levels too. */
const MAX_DEPTH = 100;

type Kind = 'model' | 'graph' | 'node' | 'function' | 'attribute' | 'training' | 'sparse' | 'tensor';

/** The message kind of field `field` inside a message of kind `kind`, for the fields that lead to tensors. */
const CHILDREN: Record<Kind, Record<number, Kind>> = {
  model: { 7: 'graph', 20: 'training', 25: 'function' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  node: { 5: 'attribute' },
  function: { 7: 'node', 11: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  training: { 1: 'graph', 2: 'graph' },
  sparse: { 1: 'tensor', 2: 'tensor' },
  tensor: {},
};

/** Bytes that are not a well-formed protobuf message (or nest too deep): onnxruntime would refuse them too. */
export class MalformedModelError extends Error {}

class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start: number, readonly end: number) { this.pos = start; }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new MalformedModelError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new MalformedModelError('varint longer than 10 bytes');
  }

  /**
   * A field key as protobuf reads it: a varint of at most 5 bytes, kept to its low 32 bits (a
   * longer key is refused). Read as a whole number, a key of field 7 plus 2^32 would be an unknown
   * field here and the graph to onnxruntime, hiding the graph's tensors from this walk.
   */
  key(): number {
    let key = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw new MalformedModelError('truncated field key');
      const b = this.buf[this.pos++]!;
      key = (key | ((b & 0x7f) << (7 * i))) >>> 0;
      if ((b & 0x80) === 0) return key;
    }
    throw new MalformedModelError('field key longer than 5 bytes');
  }

  /** The low 32 bits of the varint at [start, this.pos): what protobuf keeps of an enum value (int32). */
  low32(start: number): number {
    let v = 0;
    for (let i = 0; i < 5 && start + i < this.pos; i++) v = (v | ((this.buf[start + i]! & 0x7f) << (7 * i))) >>> 0;
    return v;
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new MalformedModelError('field runs past the end of its message');
    this.pos += n;
  }
}

/**
 * The first tensor of `model` (ONNX ModelProto bytes) that keeps its data outside the model, described
 * for an error message ("tensor 'W' stored in external file 'site.key'"), or undefined when every
 * tensor carries its data. Throws MalformedModelError for bytes that are not a protobuf message.
 */
export function findExternalTensor(model: Uint8Array): string | undefined {
  return walk(new Reader(model, 0, model.length), 'model', 0);
}

function walk(r: Reader, kind: Kind, depth: number): string | undefined {
  if (depth > MAX_DEPTH) throw new MalformedModelError(`messages nest deeper than ${MAX_DEPTH} levels`);
  const children = CHILDREN[kind];
  let name: string | undefined;
  let location: string | undefined;
  let external = false;
  while (r.pos < r.end) {
    const key = r.key();
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw new MalformedModelError('field number 0');
    if (wire === 0) {
      const start = r.pos;
      r.varint();
      // data_location is an enum, read as int32: 1 (EXTERNAL) plus any multiple of 2^32 is EXTERNAL too
      if (kind === 'tensor' && field === 14 && r.low32(start) === 1) external = true;
    } else if (wire === 1) r.skip(8);
    else if (wire === 5) r.skip(4);
    else if (wire === 2) {
      const len = r.varint();
      const start = r.pos;
      r.skip(len);
      const child = children[field];
      if (child) {
        const found = walk(new Reader(r.buf, start, start + len), child, depth + 1);
        if (found) return found;
      } else if (kind === 'tensor' && field === 8) name = utf8(r.buf, start, len);
      else if (kind === 'tensor' && field === 13) {
        external = true;
        location ??= entryValue(new Reader(r.buf, start, start + len), 'location');
      }
    } else throw new MalformedModelError(`wire type ${wire} (groups are not used by ONNX)`);
  }
  if (!external) return undefined;
  return `tensor ${JSON.stringify(name ?? '')} stored in external file ${JSON.stringify(location ?? '(unnamed)')}`;
}

/** The value of a StringStringEntryProto (key 1, value 2) whose key is `key`, if it is. */
function entryValue(r: Reader, key: string): string | undefined {
  let k: string | undefined;
  let v: string | undefined;
  while (r.pos < r.end) {
    const tag = r.key();
    if ((tag & 7) !== 2) throw new MalformedModelError('external_data entry with a non-string field');
    const len = r.varint();
    const start = r.pos;
    r.skip(len);
    if (tag >>> 3 === 1) k = utf8(r.buf, start, len);
    else if (tag >>> 3 === 2) v = utf8(r.buf, start, len);
  }
  return k === key ? v : undefined;
}

/** At most 200 bytes of a string field, decoded for a message. */
function utf8(buf: Uint8Array, start: number, len: number): string {
  return new TextDecoder().decode(buf.subarray(start, start + Math.min(len, 200)));
}
