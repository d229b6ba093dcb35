// GraphBuilder: records ONNX nodes with shapes, so autodiff can replay them and the result can be encoded.
import { type Attr, type Dim, type DType, type GraphData, type NodeData, type TensorData, type ValueInfo, encodeModel, rawBytes } from './onnx-proto.ts';
import { FedistillError } from '../util/errors.ts';

export type { Attr, Dim, DType };

/** The opset every graph targets: ≥ 17 as required, 18 for axes-as-input reductions. */
export const OPSET = 18;

/** A value in the graph: its name, static shape (symbolic dims as strings) and element type. */
export interface Tensor {
  readonly name: string;
  readonly shape: readonly Dim[];
  readonly dtype: DType;
}

/** One recorded node, with shapes of inputs and outputs, as autodiff needs them. */
export interface NodeRecord {
  readonly op: string;
  readonly inputs: readonly (Tensor | undefined)[];
  readonly outputs: readonly Tensor[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): Attr => ({ kind: 'floats', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
  graph: (value: GraphData): Attr => ({ kind: 'graph', value }),
};

/** Error for a graph that cannot be built (shapes that do not fit); thrown before any session exists. */
export function shapeError(message: string): FedistillError {
  return new FedistillError('E_SHAPE_MISMATCH', message);
}

/**
 * Builds one ONNX graph. `floatType` is the element type of every float value, so the same
 * model code yields a float32 graph for training and a float64 one for gradient checks.
 */
export class GraphBuilder {
  readonly nodes: NodeRecord[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly initializers: TensorData[] = [];
  private readonly used = new Set<string>();
  private counter = 0;
  private readonly constCache = new Map<string, Tensor>();
  /** Output names given to values after they were created (applied when encoding). */
  private readonly renames = new Map<string, string>();
  private readonly memos = new Map<string, Tensor>();
  /** Values autodiff treats as constants (see `stopGradient` in ops.ts). */
  readonly stopped = new Set<string>();
  /**
   * The graph will run on a GPU provider: gradient rules then pick forms GPU kernels run well
   * (a conv weight gradient as a batched MatMul, not one GEMM with a long inner dimension).
   * The values are the same either way, up to float rounding.
   */
  forGpu = false;

  /** `prefix` keeps generated names apart when this graph is a subgraph (Loop body) of another. */
  constructor(readonly name: string, readonly floatType: 'float32' | 'float64' = 'float32', private readonly prefix = '') {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    let n = `${this.prefix}${prefix}_${this.counter++}`;
    while (this.used.has(n)) n = `${this.prefix}${prefix}_${this.counter++}`;
    this.used.add(n);
    return n;
  }

  private claim(name: string): void {
    if (this.used.has(name)) throw new Error(`graph ${this.name}: duplicate value name ${name}`);
    this.used.add(name);
  }

  /** Declares a graph input. */
  input(name: string, shape: readonly Dim[], dtype: DType = this.floatType): Tensor {
    this.claim(name);
    this.inputs.push({ name, dtype, shape });
    return { name, shape, dtype };
  }

  /** A named initializer holding values (weights baked into an exported model). */
  initializer(name: string, shape: readonly number[], values: ArrayLike<number>, dtype: DType = this.floatType): Tensor {
    this.claim(name);
    return this.addInitializer(name, shape, values, dtype);
  }

  private addInitializer(name: string, shape: readonly number[], values: ArrayLike<number>, dtype: DType): Tensor {
    this.initializers.push({ name, dtype, dims: shape, raw: rawBytes(dtype, values) });
    return { name, shape, dtype };
  }

  /** A constant tensor (deduplicated by value), stored as an initializer. */
  constant(values: number | readonly number[], shape: readonly number[] = [], dtype: DType = this.floatType): Tensor {
    const vals = typeof values === 'number' ? [values] : values;
    const key = `${dtype}|${shape.join(',')}|${vals.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const t = this.addInitializer(this.fresh('const'), shape, vals, dtype);
    if (vals.length <= 64) this.constCache.set(key, t);
    return t;
  }

  /** An int64 constant vector (shapes, axes). */
  ints(values: readonly number[]): Tensor {
    return this.constant(values, [values.length], 'int64');
  }

  /** Adds a node. `outs` gives each output's shape and type; returns the output tensors. */
  node(op: string, inputs: readonly (Tensor | undefined)[], outs: readonly { shape: readonly Dim[]; dtype?: DType; name?: string }[], attrs: Record<string, Attr> = {}): Tensor[] {
    const outputs = outs.map((o) => {
      const name = o.name ?? this.fresh(op.toLowerCase());
      if (o.name) this.claim(o.name);
      return { name, shape: o.shape, dtype: o.dtype ?? inputs.find((t) => t)?.dtype ?? this.floatType };
    });
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs;
  }

  /**
   * `beta·acc + t` in the Gemm that produces `t`, when that Gemm has no C input and nothing reads
   * `t` yet: the Gemm writes the sum directly (one pass over the tensor instead of two extra
   * element-wise ops). Returns undefined when `t` is not such a Gemm output; the caller then
   * emits the plain ops.
   */
  accumulateIntoGemm(t: Tensor, acc: Tensor, beta: number): Tensor | undefined {
    if (acc.shape.length !== t.shape.length || acc.shape.some((d, k) => d !== t.shape[k])) return undefined;
    if (!this.unread(t)) return undefined;
    let i = this.producerIndex(t);
    let n = this.nodes[i];
    // A bias gradient is Reshape([1, n] Gemm output → [n]); C = acc [n] broadcasts to [1, n].
    if (n?.op === 'Reshape' && n.inputs[0] && this.readers(n.inputs[0]) === 1 && t.shape.length === 1) {
      const inner = n.inputs[0];
      i = this.producerIndex(inner);
      n = this.nodes[i];
      if (!n || inner.shape.length !== 2 || inner.shape[0] !== 1 || inner.shape[1] !== t.shape[0] || !this.unread(inner, 1)) return undefined;
    }
    if (!n || n.op !== 'Gemm' || n.inputs.length !== 2 || n.attrs.beta !== undefined) return undefined;
    this.nodes[i] = { ...n, inputs: [...n.inputs, acc], attrs: { ...n.attrs, beta: attr.float(beta) } };
    return t;
  }

  private producerIndex(t: Tensor): number {
    return this.nodes.findIndex((n) => n.outputs.some((o) => o.name === t.name));
  }

  private readers(t: Tensor): number {
    return this.nodes.filter((m) => m.inputs.some((x) => x?.name === t.name)).length;
  }

  /** Whether `t` is read by at most `allowed` nodes and is not (or not going to be) a graph output. */
  private unread(t: Tensor, allowed = 0): boolean {
    return !this.renames.has(t.name) && !this.outputs.some((o) => o.name === t.name) && this.readers(t) <= allowed;
  }

  /** A value built once per graph under `key` (e.g. a ones vector shared by every bias gradient). */
  memo(key: string, make: () => Tensor): Tensor {
    let t = this.memos.get(key);
    if (!t) this.memos.set(key, (t = make()));
    return t;
  }

  /** Marks `t` as a graph output named `name` (adding an Identity when the names differ). */
  output(t: Tensor, name: string = t.name): Tensor {
    let out = t;
    const produced = this.nodes.some((n) => n.outputs.some((o) => o.name === t.name));
    if (name !== t.name && produced && !this.renames.has(t.name) && !this.used.has(name)) {
      // Name the producing node's output directly: an Identity would copy the tensor every run.
      this.used.add(name);
      this.renames.set(t.name, name);
      out = { ...t, name };
    } else if (name !== t.name) out = this.node('Identity', [t], [{ shape: t.shape, dtype: t.dtype, name }])[0]!;
    this.outputs.push({ name: out.name, dtype: out.dtype, shape: out.shape });
    return out;
  }

  /** The graph as encodable data. */
  toGraphData(): GraphData {
    const nodes: NodeData[] = this.nodes.map((n, i) => ({
      opType: n.op,
      name: `n${i}_${n.op}`,
      inputs: n.inputs.map((t) => (t ? this.renames.get(t.name) ?? t.name : '')),
      outputs: n.outputs.map((t) => this.renames.get(t.name) ?? t.name),
      attrs: n.attrs,
    }));
    return { name: this.name, nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs };
  }

  /** ONNX ModelProto bytes for onnxruntime. */
  toModel(metadata?: Record<string, string>): Uint8Array {
    return encodeModel({ graph: this.toGraphData(), opset: OPSET, metadata });
  }
}

/** Product of static dims, or undefined when one is symbolic. */
export function staticSize(shape: readonly Dim[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

/** Numpy broadcasting of two shapes; throws a shape error naming both when they do not fit. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[], what: string): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw shapeError(`${what}: shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
  }
  return out;
}
