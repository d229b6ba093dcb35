// A small protobuf writer for the ONNX messages the engine emits (ModelProto and what it contains).
//
// Only encoding is needed: graphs are built here and handed to onnxruntime as bytes. Field
// numbers follow onnx/onnx.proto (IR version 8). Packed encoding is used for repeated scalars.

/** ONNX TensorProto.DataType codes for the element types the engine uses. */
export const ONNX_DTYPE = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11 } as const;
export type DType = keyof typeof ONNX_DTYPE;

/** A dimension: a fixed size, or a symbolic name such as 'N' for the batch. */
export type Dim = number | string;

export interface TensorData {
  name: string;
  dtype: DType;
  dims: readonly number[];
  /** Little-endian raw bytes of the values. */
  raw: Uint8Array;
}

export interface ValueInfo {
  name: string;
  dtype: DType;
  shape?: readonly Dim[];
}

export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'tensor'; value: TensorData }
  | { kind: 'graph'; value: GraphData };

export interface NodeData {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs: Readonly<Record<string, Attr>>;
  domain?: string;
}

export interface GraphData {
  name: string;
  nodes: readonly NodeData[];
  initializers: readonly TensorData[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
}

export interface ModelData {
  graph: GraphData;
  opset: number;
  irVersion?: number;
  producer?: string;
  metadata?: Record<string, string>;
}

const textEncoder = new TextEncoder();

/** Growable byte buffer with protobuf wire-format primitives. */
class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Varint of a non-negative or negative (two's complement, 10 bytes) integer. */
  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    this.reserve(10);
    while (x >= 0x80n) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
  }

  private smallVarint(v: number): void {
    if (v >= 0 && v < 0x80000000) {
      this.reserve(5);
      while (v >= 0x80) { this.buf[this.len++] = (v & 0x7f) | 0x80; v >>>= 7; }
      this.buf[this.len++] = v;
    } else this.varint(v);
  }

  tag(field: number, wire: number): void { this.smallVarint((field << 3) | wire); }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.smallVarint(data.length);
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void { this.bytes(field, textEncoder.encode(s)); }
  int(field: number, v: number): void { this.tag(field, 0); this.varint(v); }

  float(field: number, v: number): void {
    this.tag(field, 5);
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
  }

  packedInts(field: number, vs: readonly number[]): void {
    const inner = new ProtoWriter();
    for (const v of vs) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  packedFloats(field: number, vs: readonly number[]): void {
    const f = new Float32Array(vs);
    this.bytes(field, new Uint8Array(f.buffer));
  }

  message(field: number, write: (w: ProtoWriter) => void): void {
    const inner = new ProtoWriter();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array { return this.buf.slice(0, this.len); }
}

function writeTensor(w: ProtoWriter, t: TensorData): void {
  if (t.dims.length) w.packedInts(1, t.dims);
  w.int(2, ONNX_DTYPE[t.dtype]);
  w.string(8, t.name);
  w.bytes(9, t.raw);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.int(1, ONNX_DTYPE[v.dtype]);
      if (v.shape) {
        tt.message(2, (shape) => {
          for (const d of v.shape!) {
            shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
          }
        });
      }
    }),
  );
}

function writeAttr(w: ProtoWriter, name: string, a: Attr): void {
  w.string(1, name);
  switch (a.kind) {
    case 'float': w.float(2, a.value); w.int(20, 1); break;
    case 'int': w.int(3, a.value); w.int(20, 2); break;
    case 'string': w.string(4, a.value); w.int(20, 3); break;
    case 'tensor': w.message(5, (t) => writeTensor(t, a.value)); w.int(20, 4); break;
    case 'graph': w.message(6, (g) => writeGraph(g, a.value)); w.int(20, 5); break;
    case 'floats': w.packedFloats(7, a.value); w.int(20, 6); break;
    case 'ints': w.packedInts(8, a.value); w.int(20, 7); break;
  }
}

function writeNode(w: ProtoWriter, n: NodeData): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, a] of Object.entries(n.attrs)) w.message(5, (aw) => writeAttr(aw, k, a));
  if (n.domain) w.string(7, n.domain);
}

function writeGraph(w: ProtoWriter, g: GraphData): void {
  for (const n of g.nodes) w.message(1, (nw) => writeNode(nw, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (tw) => writeTensor(tw, t));
  for (const v of g.inputs) w.message(11, (vw) => writeValueInfo(vw, v));
  for (const v of g.outputs) w.message(12, (vw) => writeValueInfo(vw, v));
}

/** Serialises a model to ONNX ModelProto bytes, loadable by any onnxruntime. */
export function encodeModel(m: ModelData): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion ?? 8);
  w.string(2, m.producer ?? 'fedistill');
  w.string(3, '0.1');
  w.message(7, (g) => writeGraph(g, m.graph));
  w.message(8, (o) => { o.string(1, ''); o.int(2, m.opset); });
  for (const [k, v] of Object.entries(m.metadata ?? {})) {
    w.message(14, (e) => { e.string(1, k); e.string(2, v); });
  }
  return w.finish();
}

/** Raw little-endian bytes for values of a given element type. */
export function rawBytes(dtype: DType, values: ArrayLike<number>): Uint8Array {
  let arr: ArrayBufferView;
  switch (dtype) {
    case 'float32': arr = Float32Array.from(values); break;
    case 'float64': arr = Float64Array.from(values); break;
    case 'int64': arr = BigInt64Array.from(Array.from(values, (v) => BigInt(v))); break;
    case 'int32': arr = Int32Array.from(values); break;
    case 'uint8': case 'bool': arr = Uint8Array.from(values); break;
  }
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}
