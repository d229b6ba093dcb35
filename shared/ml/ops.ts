// Typed ONNX op helpers: each adds one node and infers its output shape, so shape errors surface early.
import { type Dim, type DType, GraphBuilder, type Tensor, attr, broadcastShapes, shapeError, staticSize } from './graph.ts';
import { rawBytes } from './onnx-proto.ts';

type G = GraphBuilder;

function binary(g: G, op: string, a: Tensor, b: Tensor): Tensor {
  return g.node(op, [a, b], [{ shape: broadcastShapes(a.shape, b.shape, op) }])[0]!;
}
export const add = (g: G, a: Tensor, b: Tensor): Tensor => binary(g, 'Add', a, b);
export const sub = (g: G, a: Tensor, b: Tensor): Tensor => binary(g, 'Sub', a, b);
export const mul = (g: G, a: Tensor, b: Tensor): Tensor => binary(g, 'Mul', a, b);
export const div = (g: G, a: Tensor, b: Tensor): Tensor => binary(g, 'Div', a, b);
export const pow = (g: G, a: Tensor, b: Tensor): Tensor => binary(g, 'Pow', a, b);
export const max = (g: G, a: Tensor, b: Tensor): Tensor => binary(g, 'Max', a, b);

/** Elementwise comparison; the result is bool. */
export function compare(g: G, op: 'Greater' | 'Less' | 'Equal', a: Tensor, b: Tensor): Tensor {
  return g.node(op, [a, b], [{ shape: broadcastShapes(a.shape, b.shape, op), dtype: 'bool' }])[0]!;
}

function unary(g: G, op: string, x: Tensor, attrs = {}): Tensor {
  return g.node(op, [x], [{ shape: x.shape }], attrs)[0]!;
}
export const abs = (g: G, x: Tensor): Tensor => unary(g, 'Abs', x);
/**
 * sign(x) in {−1, 0, 1} as (x > 0) − (x < 0), not Sign: onnxruntime-node 1.30's WebGPU provider
 * has no Sign kernel, so it would run on the CPU with a copy from the GPU and a wait. (NaN gives 0.)
 */
export function sign(g: G, x: Tensor): Tensor {
  const zero = g.constant(0, [], x.dtype);
  return sub(g, cast(g, compare(g, 'Greater', x, zero), x.dtype), cast(g, compare(g, 'Less', x, zero), x.dtype));
}
export const neg = (g: G, x: Tensor): Tensor => unary(g, 'Neg', x);
export const relu = (g: G, x: Tensor): Tensor => unary(g, 'Relu', x);
export const tanh = (g: G, x: Tensor): Tensor => unary(g, 'Tanh', x);
export const exp = (g: G, x: Tensor): Tensor => unary(g, 'Exp', x);
export const log = (g: G, x: Tensor): Tensor => unary(g, 'Log', x);
export const sqrt = (g: G, x: Tensor): Tensor => unary(g, 'Sqrt', x);
export const erf = (g: G, x: Tensor): Tensor => unary(g, 'Erf', x);
export const sigmoid = (g: G, x: Tensor): Tensor => unary(g, 'Sigmoid', x);
export const identity = (g: G, x: Tensor): Tensor => unary(g, 'Identity', x);
export const softmax = (g: G, x: Tensor, axis = -1): Tensor => unary(g, 'Softmax', x, { axis: attr.int(axis) });
export const logSoftmax = (g: G, x: Tensor, axis = -1): Tensor => unary(g, 'LogSoftmax', x, { axis: attr.int(axis) });

/** Row maxima built per graph, by input (see `rowMax`). */
const rowMaxima = new WeakMap<G, Map<string, Tensor>>();

/**
 * max(x) over the last axis (kept), as a constant for autodiff. The stable softmax and the float
 * argmax of the accuracy count both need it for the logits: built once per graph and input, it is
 * one kernel fewer per training step (onnxruntime's graph optimizer does not merge the two).
 */
export function rowMax(g: G, x: Tensor): Tensor {
  let built = rowMaxima.get(g);
  if (!built) rowMaxima.set(g, (built = new Map()));
  let m = built.get(x.name);
  if (!m) built.set(x.name, (m = stopGradient(g, reduceMax(g, x, [x.shape.length - 1], true))));
  return m;
}

/** `x`, treated as a constant by autodiff: no gradient flows through it. */
export function stopGradient(g: G, x: Tensor): Tensor {
  g.stopped.add(x.name);
  return x;
}

/**
 * Log-softmax and softmax over the last axis from one shifted exponential:
 * s = x − max(x), log p = s − log Σ exp(s), p = exp(s) / Σ exp(s), and the negative log
 * likelihood −log p = log Σ exp(s) − s. Each part is built on first use, so a graph holds only
 * the kernels it needs. Stable like LogSoftmax, and every op has a WebGPU kernel (onnxruntime's
 * WebGPU provider has no LogSoftmax: it would run on the CPU, with a GPU→CPU copy and wait in the
 * middle of every step). The max is a constant shift whose total derivative is zero, so autodiff
 * does not differentiate it.
 */
export function logSoftmaxParts(g: G, x: Tensor): { logp: () => Tensor; nll: () => Tensor; p: () => Tensor } {
  const axis = x.shape.length - 1;
  const s = sub(g, x, rowMax(g, x));
  const e = exp(g, s);
  const total = reduceSum(g, e, [axis], true);
  let logTotal: Tensor | undefined, logp: Tensor | undefined, nll: Tensor | undefined, p: Tensor | undefined;
  const lt = () => (logTotal ??= log(g, total));
  return { logp: () => (logp ??= sub(g, s, lt())), nll: () => (nll ??= sub(g, lt(), s)), p: () => (p ??= div(g, e, total)) };
}

/** Elementwise select; `cond` is bool. */
export function where(g: G, cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'Where'), b.shape, 'Where');
  return g.node('Where', [cond, a, b], [{ shape, dtype: a.dtype }])[0]!;
}

export function cast(g: G, x: Tensor, to: DType): Tensor {
  const code = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11 }[to];
  return g.node('Cast', [x], [{ shape: x.shape, dtype: to }], { to: attr.int(code) })[0]!;
}

/** Shape(x) as an int64 vector. */
export function shapeOf(g: G, x: Tensor): Tensor {
  return g.node('Shape', [x], [{ shape: [x.shape.length], dtype: 'int64' }])[0]!;
}

/**
 * Ones of shape [N, 1], N = x's (runtime) first dimension; one per graph and symbolic N. Sums
 * over the batch as a Gemm with it run far faster on CPU than ReduceSum over axis 0.
 */
export function onesColumn(g: G, x: Tensor): Tensor {
  const n = x.shape[0]!;
  return g.memo(`ones-column:${String(n)}`, () => {
    const rows = g.node('Shape', [x], [{ shape: [1], dtype: 'int64' }], { start: attr.int(0), end: attr.int(1) })[0]!;
    const shape = g.node('Concat', [rows, g.ints([1])], [{ shape: [2], dtype: 'int64' }], { axis: attr.int(0) })[0]!;
    // Expand, not ConstantOfShape: it has a WebGPU kernel, so the ones are made on the device.
    return g.node('Expand', [g.constant(1, [1, 1], x.dtype), shape], [{ shape: [n, 1], dtype: x.dtype }])[0]!;
  });
}

/** x's (runtime) first dimension as a float scalar; one per graph and symbolic N. */
export function rowCount(g: G, x: Tensor): Tensor {
  return g.memo(`row-count:${String(x.shape[0])}`, () =>
    cast(g, gather(g, shapeOf(g, x), g.constant(0, [], 'int64')), g.floatType));
}

/** Zeros of x's (runtime) shape, in the graph's float type. */
export function zerosLike(g: G, x: Tensor): Tensor {
  const value = { kind: 'tensor' as const, value: { name: 'v', dtype: x.dtype, dims: [1], raw: rawBytes(x.dtype, [0]) } };
  return g.node('ConstantOfShape', [shapeOf(g, x)], [{ shape: x.shape, dtype: x.dtype }], { value })[0]!;
}

/** Matrix product, ND × 2D or 2D × 2D. */
export function matmul(g: G, a: Tensor, b: Tensor): Tensor {
  if (a.shape.length < 2 || b.shape.length !== 2) throw shapeError(`MatMul needs A of rank ≥ 2 and B of rank 2, got [${a.shape}] × [${b.shape}]`);
  const k = a.shape[a.shape.length - 1]!;
  if (k !== b.shape[0] && typeof k === 'number' && typeof b.shape[0] === 'number') {
    throw shapeError(`MatMul: inner dimensions differ: [${a.shape}] × [${b.shape}]`);
  }
  return g.node('MatMul', [a, b], [{ shape: [...a.shape.slice(0, -1), b.shape[1]!] }])[0]!;
}

/** General matrix multiply Y = op(A)·op(B) + C (2D only). */
export function gemm(g: G, a: Tensor, b: Tensor, c: Tensor | undefined, transA = false, transB = false): Tensor {
  if (a.shape.length !== 2 || b.shape.length !== 2) throw shapeError(`Gemm needs 2D operands, got [${a.shape}] and [${b.shape}]`);
  const [m, ka] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [kb, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (ka !== kb && typeof ka === 'number' && typeof kb === 'number') {
    throw shapeError(`Gemm: inner dimensions differ (${ka} vs ${kb}) for [${a.shape}] × [${b.shape}]`);
  }
  const attrs = { transA: attr.int(transA ? 1 : 0), transB: attr.int(transB ? 1 : 0) };
  return g.node('Gemm', c ? [a, b, c] : [a, b], [{ shape: [m, n] }], attrs)[0]!;
}

/** Reshape to a target with at most one symbolic dim (written as -1). */
export function reshape(g: G, x: Tensor, target: readonly Dim[]): Tensor {
  const sym = target.filter((d) => typeof d !== 'number');
  if (sym.length > 1) throw shapeError(`Reshape target [${target}] has more than one symbolic dim`);
  const a = staticSize(x.shape.filter((d) => typeof d === 'number'));
  const b = staticSize(target.filter((d) => typeof d === 'number'));
  if (sym.length === 0 && staticSize(x.shape) !== undefined && a !== b) throw shapeError(`Reshape: [${x.shape}] cannot become [${target}]`);
  const shapeT = g.ints(target.map((d) => (typeof d === 'number' ? d : -1)));
  return g.node('Reshape', [x, shapeT], [{ shape: target }])[0]!;
}

/** Reshape x to the runtime shape of `like` (used by gradients of reshapes). */
export function reshapeLike(g: G, x: Tensor, like: Tensor): Tensor {
  return g.node('Reshape', [x, shapeOf(g, like)], [{ shape: like.shape }])[0]!;
}

/** Flatten to [N, rest]. */
export function flatten(g: G, x: Tensor): Tensor {
  const rest = staticSize(x.shape.slice(1));
  if (rest === undefined) throw shapeError(`Flatten needs static non-batch dims, got [${x.shape}]`);
  return g.node('Flatten', [x], [{ shape: [x.shape[0]!, rest] }], { axis: attr.int(1) })[0]!;
}

export function transpose(g: G, x: Tensor, perm: readonly number[]): Tensor {
  return g.node('Transpose', [x], [{ shape: perm.map((p) => x.shape[p]!) }], { perm: attr.ints(perm) })[0]!;
}

function normAxes(axes: readonly number[], rank: number): number[] {
  return axes.map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q);
}

function reduce(g: G, op: string, x: Tensor, axes: readonly number[], keepdims: boolean): Tensor {
  const ax = normAxes(axes, x.shape.length);
  const shape = keepdims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
  return g.node(op, [x, g.ints(ax)], [{ shape }], { keepdims: attr.int(keepdims ? 1 : 0) })[0]!;
}
export const reduceSum = (g: G, x: Tensor, axes: readonly number[], keepdims = false): Tensor => reduce(g, 'ReduceSum', x, axes, keepdims);
export const reduceMean = (g: G, x: Tensor, axes: readonly number[], keepdims = false): Tensor => reduce(g, 'ReduceMean', x, axes, keepdims);
export const reduceMax = (g: G, x: Tensor, axes: readonly number[], keepdims = false): Tensor => reduce(g, 'ReduceMax', x, axes, keepdims);
export const reduceMin = (g: G, x: Tensor, axes: readonly number[], keepdims = false): Tensor => reduce(g, 'ReduceMin', x, axes, keepdims);

/** Expand x to the runtime shape of `like`. */
export function expandLike(g: G, x: Tensor, like: Tensor): Tensor {
  return g.node('Expand', [x, shapeOf(g, like)], [{ shape: like.shape }])[0]!;
}

export interface ConvOptions { strides: [number, number]; pads: [number, number, number, number]; dilations?: [number, number]; group?: number }

/** Output size of one spatial axis of a convolution or pooling window. */
export function windowOut(size: number, k: number, s: number, p0: number, p1: number, d = 1): number {
  return Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

function convAttrs(o: ConvOptions, k: [number, number]) {
  return {
    kernel_shape: attr.ints(k), strides: attr.ints(o.strides), pads: attr.ints(o.pads),
    dilations: attr.ints(o.dilations ?? [1, 1]), group: attr.int(o.group ?? 1),
  };
}

/** 2D convolution, x [N,C,H,W], w [M,C/group,kh,kw]. */
export function conv(g: G, x: Tensor, w: Tensor, b: Tensor | undefined, o: ConvOptions): Tensor {
  const [n, c, h, wd] = x.shape as [Dim, number, number, number];
  const [m, cw, kh, kw] = w.shape as [number, number, number, number];
  if (x.shape.length !== 4 || cw * (o.group ?? 1) !== c) throw shapeError(`Conv: input [${x.shape}] does not fit weight [${w.shape}]`);
  const d = o.dilations ?? [1, 1];
  const oh = windowOut(h, kh, o.strides[0], o.pads[0], o.pads[2], d[0]);
  const ow = windowOut(wd, kw, o.strides[1], o.pads[1], o.pads[3], d[1]);
  if (oh < 1 || ow < 1) throw shapeError(`Conv: kernel ${kh}x${kw} does not fit input ${h}x${wd}`);
  return g.node('Conv', b ? [x, w, b] : [x, w], [{ shape: [n, m, oh, ow] }], convAttrs(o, [kh, kw]))[0]!;
}

/** Transposed convolution with an explicit output spatial size (the shape of a conv's input). */
export function convTranspose(g: G, x: Tensor, w: Tensor, o: ConvOptions, outHW: [number, number]): Tensor {
  const [n, , h, wd] = x.shape as [Dim, number, number, number];
  const [, m, kh, kw] = w.shape as [number, number, number, number];
  const d = o.dilations ?? [1, 1];
  // output_padding recovers the rows/cols a strided conv dropped.
  const full = [
    (h - 1) * o.strides[0] + d[0] * (kh - 1) + 1 - o.pads[0] - o.pads[2],
    (wd - 1) * o.strides[1] + d[1] * (kw - 1) + 1 - o.pads[1] - o.pads[3],
  ];
  const attrs = { ...convAttrs(o, [kh, kw]), output_padding: attr.ints([outHW[0] - full[0]!, outHW[1] - full[1]!]) };
  return g.node('ConvTranspose', [x, w], [{ shape: [n, m * (o.group ?? 1), outHW[0], outHW[1]] }], attrs)[0]!;
}

export interface PoolOptions { kernel: [number, number]; strides: [number, number]; pads: [number, number, number, number] }

function poolShape(x: Tensor, o: PoolOptions, what: string): Dim[] {
  const [n, c, h, w] = x.shape as [Dim, number, number, number];
  if (x.shape.length !== 4) throw shapeError(`${what} needs [N,C,H,W], got [${x.shape}]`);
  const oh = windowOut(h, o.kernel[0], o.strides[0], o.pads[0], o.pads[2]);
  const ow = windowOut(w, o.kernel[1], o.strides[1], o.pads[1], o.pads[3]);
  if (oh < 1 || ow < 1) throw shapeError(`${what}: window ${o.kernel} does not fit input ${h}x${w}`);
  return [n, c, oh, ow];
}

function poolAttrs(o: PoolOptions) {
  return { kernel_shape: attr.ints(o.kernel), strides: attr.ints(o.strides), pads: attr.ints(o.pads) };
}

/** Whether pooling windows tile the input: kernel = stride, no padding (the usual 2×2/2 pool). */
export function poolTiles(o: PoolOptions): boolean {
  return o.kernel[0] === o.strides[0] && o.kernel[1] === o.strides[1] && o.pads.every((p) => p === 0);
}

/**
 * Max pooling, without MaxPool's Indices output: onnxruntime-node 1.30's WebGPU provider takes
 * the node and then fails at run time ("The Indices output is not supported yet"), so no graph
 * asks for it, not even the exported inference model. The gradient recovers the argmax as a mask
 * of each window's maxima (see vjp-rules.ts).
 */
export function maxPool(g: G, x: Tensor, o: PoolOptions): Tensor {
  return g.node('MaxPool', [x], [{ shape: poolShape(x, o, 'MaxPool') }], poolAttrs(o))[0]!;
}

/** Max pooling with its argmax indices (flat over the whole input): for float64 graphs, which only the CPU runs. */
export function maxPoolWithIndices(g: G, x: Tensor, o: PoolOptions): [Tensor, Tensor] {
  const shape = poolShape(x, o, 'MaxPool');
  const [y, idx] = g.node('MaxPool', [x], [{ shape }, { shape, dtype: 'int64' }], poolAttrs(o));
  return [y!, idx!];
}

export function averagePool(g: G, x: Tensor, o: PoolOptions): Tensor {
  return g.node('AveragePool', [x], [{ shape: poolShape(x, o, 'AveragePool') }], { ...poolAttrs(o), count_include_pad: attr.int(1) })[0]!;
}

export function globalAveragePool(g: G, x: Tensor): Tensor {
  if (x.shape.length !== 4) throw shapeError(`GlobalAveragePool needs [N,C,H,W], got [${x.shape}]`);
  return g.node('GlobalAveragePool', [x], [{ shape: [x.shape[0]!, x.shape[1]!, 1, 1] }])[0]!;
}

/** Gather rows of a table: table [V,D], idx int64 [...] → [..., D]. */
export function gather(g: G, table: Tensor, idx: Tensor): Tensor {
  return g.node('Gather', [table, idx], [{ shape: [...idx.shape, ...table.shape.slice(1)], dtype: table.dtype }], { axis: attr.int(0) })[0]!;
}

/**
 * ArgMax over the last axis of a [N, C] tensor as a float index (the first maximum, like ArgMax),
 * from float ops only: onnxruntime's WebGPU provider keeps int64 results on the CPU.
 */
export function argmaxFloat(g: G, x: Tensor, keepdims = false): Tensor {
  const c = x.shape[x.shape.length - 1];
  if (typeof c !== 'number') throw shapeError(`argmaxFloat needs a static last axis, got [${x.shape}]`);
  const isMax = compare(g, 'Equal', x, rowMax(g, x));
  return reduceMin(g, where(g, isMax, classIndices(g, c, x.dtype), g.constant(c, [], x.dtype)), [-1], keepdims);
}

/** The row [0, 1, …, c−1] as a [1, c] constant of a float type (argmax without int64 ops). */
export function classIndices(g: G, c: number, dtype: DType): Tensor {
  return g.constant(Array.from({ length: c }, (_, i) => i), [1, c], dtype);
}

export function argmax(g: G, x: Tensor, axis: number): Tensor {
  const shape = x.shape.filter((_, i) => i !== (axis < 0 ? axis + x.shape.length : axis));
  return g.node('ArgMax', [x], [{ shape, dtype: 'int64' }], { axis: attr.int(axis), keepdims: attr.int(0) })[0]!;
}
