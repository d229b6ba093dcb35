// Vector-Jacobian products for every differentiable op the engine emits, as ONNX nodes themselves.
import { type GraphBuilder, type NodeRecord, type Tensor, attr, shapeError, staticSize } from './graph.ts';
import * as op from './ops.ts';

/** Given the output gradients, returns one gradient per input (undefined where not needed). */
export type VjpRule = (g: GraphBuilder, node: NodeRecord, gys: readonly (Tensor | undefined)[], needs: readonly boolean[]) => (Tensor | undefined)[];

/** Sums `grad` over the axes along which `x` was broadcast, and gives it x's shape. */
export function unbroadcast(g: GraphBuilder, grad: Tensor, x: Tensor): Tensor {
  const r = grad.shape.length;
  const xr = x.shape.length;
  const axes: number[] = [];
  for (let i = 0; i < r; i++) {
    const j = i - (r - xr);
    if (j < 0 || (x.shape[j] === 1 && grad.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0 && r === xr) return grad;
  const summed = axes.length ? op.reduceSum(g, grad, axes, true) : grad;
  if (r === xr) return summed;
  return staticSize(x.shape) !== undefined ? op.reshape(g, summed, x.shape) : op.reshapeLike(g, summed, x);
}

const zero = (g: GraphBuilder): Tensor => g.constant(0);
const one = (g: GraphBuilder): Tensor => g.constant(1);

function intsAttr(n: NodeRecord, name: string, dflt: number[]): number[] {
  const a = n.attrs[name];
  return a && a.kind === 'ints' ? [...a.value] : dflt;
}
function intAttr(n: NodeRecord, name: string, dflt: number): number {
  const a = n.attrs[name];
  return a && a.kind === 'int' ? a.value : dflt;
}

/** Reads the constant int64 vector fed to a node input (axes of reductions). */
function constInts(g: GraphBuilder, t: Tensor | undefined): number[] {
  const init = t && g.initializers.find((i) => i.name === t.name);
  if (!init) throw new Error('expected a constant int64 input');
  return Array.from(new BigInt64Array(init.raw.slice().buffer), Number);
}

/**
 * The number of elements of t as a float scalar, from its shape alone: a constant when the shape
 * is static, else the static part times the symbolic dims (Shape, Gather, Cast: shape arithmetic).
 * Not Size: onnxruntime-node 1.30's WebGPU provider has no Size kernel, and the CPU's would copy
 * the whole tensor from the GPU, and wait for it, only to count it.
 */
function elementCount(g: GraphBuilder, t: Tensor): Tensor {
  const fixed = t.shape.reduce<number>((a, d) => (typeof d === 'number' ? a * d : a), 1);
  let count: Tensor | undefined;
  t.shape.forEach((d, i) => {
    if (typeof d === 'number') return;
    const dim = i === 0 ? op.rowCount(g, t) : op.cast(g, op.gather(g, op.shapeOf(g, t), g.constant(i, [], 'int64')), g.floatType);
    count = count ? op.mul(g, count, dim) : dim;
  });
  if (!count) return g.constant(fixed);
  return fixed === 1 ? count : op.mul(g, count, g.constant(fixed));
}

function reduceGrad(g: GraphBuilder, n: NodeRecord, gy: Tensor, mean: boolean): Tensor {
  const x = n.inputs[0]!;
  const axes = constInts(g, n.inputs[1]);
  let gk = gy;
  if (intAttr(n, 'keepdims', 1) === 0) {
    const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    gk = g.node('Unsqueeze', [gy, g.ints(axes)], [{ shape }])[0]!;
  }
  let gx = op.expandLike(g, gk, x);
  if (mean) {
    const count = staticSize(axes.map((a) => x.shape[a]!));
    if (count !== undefined) gx = op.mul(g, gx, g.constant(1 / count));
    else {
      // gx · |y| / |x| as before (the same values on the CPU), with sizes read from shapes, not Size.
      const y = n.outputs[0]!;
      gx = op.div(g, staticSize(y.shape) === 1 ? gx : op.mul(g, gx, elementCount(g, y)), elementCount(g, x));
    }
  }
  return gx;
}

function convOptions(n: NodeRecord): op.ConvOptions {
  const s = intsAttr(n, 'strides', [1, 1]);
  const p = intsAttr(n, 'pads', [0, 0, 0, 0]);
  const d = intsAttr(n, 'dilations', [1, 1]);
  return { strides: [s[0]!, s[1]!], pads: [p[0]!, p[1]!, p[2]!, p[3]!], dilations: [d[0]!, d[1]!], group: intAttr(n, 'group', 1) };
}

/**
 * The im2col columns of a convolution's input: one strided slice of x per kernel offset (i, j),
 * x[n, c, p·s + i·d, q·s + j·d] over the output positions (p, q), stacked. Channels first, x as
 * [C, N, H, W]: [C, kh·kw, N·P] (each slice a contiguous block). Channels last, x as [N, H, W, C]:
 * [N, P, kh·kw, C].
 */
function im2col(g: GraphBuilder, x: Tensor, w: Tensor, gy: Tensor, o: op.ConvOptions, channelsLast: boolean): Tensor {
  const [nb, c] = x.shape as number[];
  const [, , kh, kw] = w.shape as number[];
  const [, , oh, ow] = gy.shape as number[];
  const [sh, sw] = o.strides;
  const [dh, dw] = o.dilations ?? [1, 1];
  const [p0, p1, p2, p3] = o.pads;
  const [ah, aw] = channelsLast ? [1, 2] : [2, 3]; // the spatial axes of xt
  let xt = op.transpose(g, x, channelsLast ? [0, 2, 3, 1] : [1, 0, 2, 3]);
  if (p0 || p1 || p2 || p3) {
    const pads = [0, 0, 0, 0, 0, 0, 0, 0];
    [pads[ah], pads[aw], pads[4 + ah], pads[4 + aw]] = [p0!, p1!, p2!, p3!];
    const shape = xt.shape.map((d, a) => (a === ah ? (d as number) + p0! + p2! : a === aw ? (d as number) + p1! + p3! : d));
    xt = g.node('Pad', [xt, g.ints(pads)], [{ shape }], { mode: attr.string('constant') })[0]!;
  }
  const sliceShape = xt.shape.map((d, a) => (a === ah ? oh! : a === aw ? ow! : d));
  const pieces: Tensor[] = [];
  for (let i = 0; i < kh!; i++) {
    for (let j = 0; j < kw!; j++) {
      const starts = [i * dh, j * dw];
      const piece = g.node('Slice', [xt, g.ints(starts), g.ints([starts[0]! + sh * (oh! - 1) + 1, starts[1]! + sw * (ow! - 1) + 1]), g.ints([ah, aw]), g.ints([sh, sw])],
        [{ shape: sliceShape }])[0]!;
      pieces.push(op.reshape(g, piece, channelsLast ? [nb!, oh! * ow!, 1, c!] : [c!, 1, 'NP']));
    }
  }
  const shape = channelsLast ? [nb!, oh! * ow!, kh! * kw!, c!] : [c!, kh! * kw!, 'NP'];
  return g.node('Concat', pieces, [{ shape }], { axis: attr.int(channelsLast ? 2 : 1) })[0]!;
}

/**
 * dW of a convolution as one GEMM over the im2col matrix: dW[m, (c,i,j)] = Σ_(n,p,q) gy[n,m,p,q] ·
 * x[n, c, p·s + i·d, q·s + j·d], a GEMM of a good shape on the CPU: [M, N·P] × [N·P, C·kh·kw].
 * The earlier form, a Conv of the transposed input with the output gradient as an oh×ow kernel, ran
 * a GEMM only kh·kw wide: 1.2–1.3× slower for the whole cnn step on the CPU (and on SwiftShader).
 *
 * On a GPU (`g.forGpu`), per sample instead: gy[n] [M, P] × columns[n] [P, kh·kw·C] as one batched
 * MatMul, then a ReduceSum over the samples. The single GEMM has a tiny output (M × C·kh·kw, 32 × 9
 * for the cnn's first layer) and an inner dimension of N·P (346,112 at batch 512); GPU GEMM kernels
 * spread work over output tiles, so it ran on a handful of workgroups: 30 of the cnn step's 35 ms on
 * an H200 through the WebGPU provider. There every sample's product is its own tile, and the columns
 * are built channels-last, so neither they nor gy need a transpose.
 */
function convWeightGrad(g: GraphBuilder, x: Tensor, w: Tensor, gy: Tensor, o: op.ConvOptions): Tensor {
  if ((o.group ?? 1) !== 1) throw shapeError('Conv weight gradient supports group = 1 only');
  const [nb, c] = x.shape as number[];
  const [m, , kh, kw] = w.shape as number[];
  const [, , oh, ow] = gy.shape as number[];
  const columns = im2col(g, x, w, gy, o, g.forGpu);
  if (!g.forGpu) {
    const gyRows = op.reshape(g, op.transpose(g, gy, [1, 0, 2, 3]), [m!, 'NP']);
    return op.reshape(g, op.gemm(g, gyRows, op.reshape(g, columns, [c! * kh! * kw!, 'NP']), undefined, false, true), [m!, c!, kh!, kw!]);
  }
  const perSample = g.node('MatMul', [samplesByPosition(g, gy), op.reshape(g, columns, [nb!, oh! * ow!, kh! * kw! * c!])], [{ shape: [nb!, m!, kh! * kw! * c!] }])[0]!;
  return op.transpose(g, op.reshape(g, op.reduceSum(g, perSample, [0]), [m!, kh!, kw!, c!]), [0, 3, 1, 2]);
}

/**
 * db of a convolution: gy summed over samples and positions. On a GPU in two passes, positions
 * then samples: one ReduceSum over [0, 2, 3] has an output per channel (32 for the cnn's first
 * layer) each summing N·P values (346,112 at batch 512), and ran 0.7 ms of a 6.3 ms step on an H200.
 */
function convBiasGrad(g: GraphBuilder, gy: Tensor): Tensor {
  const [, , oh, ow] = gy.shape;
  if (!g.forGpu || typeof oh !== 'number' || typeof ow !== 'number') return op.reduceSum(g, gy, [0, 2, 3]);
  return op.reduceSum(g, op.reduceSum(g, samplesByPosition(g, gy), [2]), [0]);
}

/** A conv output gradient [N, M, oh, ow] as [N, M, oh·ow]: one Reshape for the weight and the bias gradient. */
function samplesByPosition(g: GraphBuilder, gy: Tensor): Tensor {
  const [nb, m, oh, ow] = gy.shape as number[];
  return g.memo(`samples-by-position:${gy.name}`, () => op.reshape(g, gy, [nb!, m!, oh! * ow!]));
}

export const VJP_RULES: Record<string, VjpRule> = {
  Identity: (_g, _n, [gy]) => [gy],
  Add: (g, n, [gy]) => [unbroadcast(g, gy!, n.inputs[0]!), unbroadcast(g, gy!, n.inputs[1]!)],
  Sub: (g, n, [gy], needs) => [unbroadcast(g, gy!, n.inputs[0]!), needs[1] ? unbroadcast(g, op.neg(g, gy!), n.inputs[1]!) : undefined],
  Mul: (g, n, [gy], needs) => {
    const [a, b] = n.inputs as Tensor[];
    return [needs[0] ? unbroadcast(g, op.mul(g, gy!, b!), a!) : undefined, needs[1] ? unbroadcast(g, op.mul(g, gy!, a!), b!) : undefined];
  },
  Div: (g, n, [gy], needs) => {
    const [a, b] = n.inputs as Tensor[];
    const y = n.outputs[0]!;
    return [
      needs[0] ? unbroadcast(g, op.div(g, gy!, b!), a!) : undefined,
      needs[1] ? unbroadcast(g, op.neg(g, op.div(g, op.mul(g, gy!, y), b!)), b!) : undefined,
    ];
  },
  Neg: (g, _n, [gy]) => [op.neg(g, gy!)],
  Abs: (g, n, [gy]) => [op.mul(g, gy!, op.sign(g, n.inputs[0]!))],
  Relu: (g, n, [gy]) => [op.mul(g, gy!, op.cast(g, op.compare(g, 'Greater', n.outputs[0]!, zero(g)), g.floatType))],
  Tanh: (g, n, [gy]) => { const y = n.outputs[0]!; return [op.mul(g, gy!, op.sub(g, one(g), op.mul(g, y, y)))]; },
  Sigmoid: (g, n, [gy]) => { const y = n.outputs[0]!; return [op.mul(g, gy!, op.mul(g, y, op.sub(g, one(g), y)))]; },
  Exp: (g, n, [gy]) => [op.mul(g, gy!, n.outputs[0]!)],
  Log: (g, n, [gy]) => [op.div(g, gy!, n.inputs[0]!)],
  Sqrt: (g, n, [gy]) => [op.div(g, gy!, op.mul(g, g.constant(2), n.outputs[0]!))],
  Erf: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    const e = op.exp(g, op.neg(g, op.mul(g, x, x)));
    return [op.mul(g, gy!, op.mul(g, e, g.constant(2 / Math.sqrt(Math.PI))))];
  },
  Softmax: (g, n, [gy]) => {
    const y = n.outputs[0]!;
    const axis = intAttr(n, 'axis', -1);
    return [op.mul(g, y, op.sub(g, gy!, op.reduceSum(g, op.mul(g, gy!, y), [axis], true)))];
  },
  LogSoftmax: (g, n, [gy]) => {
    const axis = intAttr(n, 'axis', -1);
    const p = op.exp(g, n.outputs[0]!);
    return [op.sub(g, gy!, op.mul(g, p, op.reduceSum(g, gy!, [axis], true)))];
  },
  Where: (g, n, [gy], needs) => {
    const [c, a, b] = n.inputs as Tensor[];
    return [
      undefined,
      needs[1] ? unbroadcast(g, op.where(g, c!, gy!, zero(g)), a!) : undefined,
      needs[2] ? unbroadcast(g, op.where(g, c!, zero(g), gy!), b!) : undefined,
    ];
  },
  MatMul: (g, n, [gy], needs) => {
    const [a, b] = n.inputs as Tensor[];
    if (a!.shape.length === 2) {
      return [needs[0] ? op.gemm(g, gy!, b!, undefined, false, true) : undefined, needs[1] ? op.gemm(g, a!, gy!, undefined, true, false) : undefined];
    }
    const k = b!.shape[0]!;
    const m = b!.shape[1]!;
    return [
      needs[0] ? op.matmul(g, gy!, op.transpose(g, b!, [1, 0])) : undefined,
      needs[1] ? op.gemm(g, op.reshape(g, a!, ['N', k]), op.reshape(g, gy!, ['N', m]), undefined, true, false) : undefined,
    ];
  },
  Gemm: (g, n, [gy], needs) => {
    const [a, b, c] = n.inputs as Tensor[];
    const ta = intAttr(n, 'transA', 0) === 1;
    const tb = intAttr(n, 'transB', 0) === 1;
    const da = !needs[0] ? undefined : ta ? op.gemm(g, b!, gy!, undefined, tb, true) : op.gemm(g, gy!, b!, undefined, false, !tb);
    const db = !needs[1] ? undefined : tb ? op.gemm(g, gy!, a!, undefined, true, ta) : op.gemm(g, a!, gy!, undefined, !ta, false);
    // A bias [n] over a batch [N, n]: the batch sum as onesᵀ·gy, so the optimizer can fold into that Gemm too.
    const dc = !(needs[2] && c) ? undefined
      : c!.shape.length === 1 && gy!.shape.length === 2 && c!.shape[0] === gy!.shape[1] && typeof c!.shape[0] === 'number'
        ? op.reshape(g, op.gemm(g, op.onesColumn(g, gy!), gy!, undefined, true, false), c!.shape)
        : unbroadcast(g, gy!, c!);
    return [da, db, dc];
  },
  Reshape: (g, n, [gy]) => [op.reshapeLike(g, gy!, n.inputs[0]!), undefined],
  Flatten: (g, n, [gy]) => [op.reshapeLike(g, gy!, n.inputs[0]!)],
  Unsqueeze: (g, n, [gy]) => [op.reshapeLike(g, gy!, n.inputs[0]!), undefined],
  Transpose: (g, n, [gy]) => {
    const perm = intsAttr(n, 'perm', []);
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [op.transpose(g, gy!, inv)];
  },
  Expand: (g, n, [gy]) => [unbroadcast(g, gy!, n.inputs[0]!), undefined],
  ReduceSum: (g, n, [gy]) => [reduceGrad(g, n, gy!, false), undefined],
  ReduceMean: (g, n, [gy]) => [reduceGrad(g, n, gy!, true), undefined],
  Conv: (g, n, [gy], needs) => {
    const [x, w, b] = n.inputs as Tensor[];
    const o = convOptions(n);
    const [, , h, wd] = x!.shape as number[];
    return [
      needs[0] ? op.convTranspose(g, gy!, w!, o, [h!, wd!]) : undefined,
      needs[1] ? convWeightGrad(g, x!, w!, gy!, o) : undefined,
      needs[2] && b ? convBiasGrad(g, gy!) : undefined,
    ];
  },
  MaxPool: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    const p = intsAttr(n, 'pads', [0, 0, 0, 0]);
    const o: op.PoolOptions = { kernel: intsAttr(n, 'kernel_shape', []) as [number, number], strides: intsAttr(n, 'strides', [1, 1]) as [number, number], pads: [p[0]!, p[1]!, p[2]!, p[3]!] };
    if (op.poolTiles(o)) return [maxPoolTileGrad(g, x, n.outputs[0]!, gy!, o.kernel)];
    if (g.floatType === 'float32') return [maxPoolWindowGrad(g, x, n.outputs[0]!, gy!, o)];
    // float64 graphs (gradient checks; the CPU has no float64 ConvTranspose): scatter the output
    // gradient to the argmax positions of a MaxPool recomputed with its indices (flat over the input).
    const flat = (t: Tensor) => op.reshape(g, t, ['M']);
    const zeros = flat(op.zerosLike(g, x));
    const scattered = g.node('ScatterElements', [zeros, flat(op.maxPoolWithIndices(g, x, o)[1]), flat(gy!)], [{ shape: ['M'] }], {
      axis: attr.int(0), reduction: attr.string('add'),
    })[0]!;
    return [op.reshapeLike(g, scattered, x)];
  },
  AveragePool: (g, n, [gy]) => {
    // Spread each output gradient evenly over its window: a depthwise transposed conv with a constant kernel.
    const x = n.inputs[0]!;
    const [, c, h, w] = x.shape as number[];
    const k = intsAttr(n, 'kernel_shape', []);
    const kernel = g.constant(new Array(c! * k[0]! * k[1]!).fill(1 / (k[0]! * k[1]!)), [c!, 1, k[0]!, k[1]!]);
    const o: op.ConvOptions = { strides: intsAttr(n, 'strides', [1, 1]) as [number, number], pads: intsAttr(n, 'pads', [0, 0, 0, 0]) as op.ConvOptions['pads'], group: c! };
    return [op.convTranspose(g, gy!, kernel, o, [h!, w!])];
  },
  GlobalAveragePool: (g, n, [gy]) => {
    const x = n.inputs[0]!;
    const hw = (x.shape[2] as number) * (x.shape[3] as number);
    return [op.mul(g, op.expandLike(g, gy!, x), g.constant(1 / hw))];
  },
  Gather: (g, n, [gy]) => {
    // Rows that were looked up receive the sum of their gradients.
    const [table, idx] = n.inputs as Tensor[];
    const zeros = g.node('ConstantOfShape', [g.ints(table!.shape as number[])], [{ shape: table!.shape, dtype: table!.dtype }], {
      value: { kind: 'tensor', value: { name: 'v', dtype: table!.dtype, dims: [1], raw: new Uint8Array(table!.dtype === 'float64' ? 8 : 4) } },
    })[0]!;
    const idx1 = trailingAxis(g, idx!);
    const dt = g.node('ScatterND', [zeros, idx1, gy!], [{ shape: table!.shape }], { reduction: attr.string('add') })[0]!;
    return [dt, undefined];
  },
};

/**
 * Ids [...] as [..., 1], the index shape ScatterND takes. onnxruntime-node 1.30's WebGPU provider
 * has no int64 Unsqueeze, so on a GPU that one would run on the CPU, with a copy of the ids from
 * the GPU and a wait every step; ids cast from floats (an embedding's token ids) get the axis
 * before the cast instead, on the device.
 */
function trailingAxis(g: GraphBuilder, idx: Tensor): Tensor {
  const cast = g.nodes.find((m) => m.op === 'Cast' && m.outputs[0]!.name === idx.name);
  const src = cast?.inputs[0];
  const shape = [...idx.shape, 1];
  if (src && src.dtype !== 'int64') return op.cast(g, g.node('Unsqueeze', [src, g.ints([-1])], [{ shape, dtype: src.dtype }])[0]!, 'int64');
  return g.node('Unsqueeze', [idx, g.ints([-1])], [{ shape, dtype: 'int64' }])[0]!;
}

/** Ops that carry no gradient to any input (comparisons, shape queries, casts to integers). */
export const NON_DIFFERENTIABLE = new Set(['Shape', 'Size', 'Greater', 'Less', 'Equal', 'ArgMax', 'ConstantOfShape', 'Cast', 'Sign']);

/**
 * Gradient of a tiling max pool without argmax indices: mark the positions equal to their
 * window's max, share gy among ties, and pad back the rows and columns the pool dropped (floor
 * division). Every op is standard and runs on every provider.
 */
function maxPoolTileGrad(g: GraphBuilder, x: Tensor, y: Tensor, gy: Tensor, k: number[]): Tensor {
  const [n, c, h, w] = x.shape as [Tensor['shape'][number], number, number, number];
  const [kh, kw] = k as [number, number];
  const oh = Math.floor(h / kh), ow = Math.floor(w / kw);
  const cropped = oh * kh !== h || ow * kw !== w;
  const xc = cropped
    ? g.node('Slice', [x, g.ints([0, 0]), g.ints([oh * kh, ow * kw]), g.ints([2, 3])], [{ shape: [n, c, oh * kh, ow * kw] }])[0]!
    : x;
  // Each window's max (and each output gradient) is spread over its window by nearest-neighbour
  // upsampling, so the mask, the tie counts and the product are plain same-shape ops. The first
  // version broadcast [N,C,oh,1,ow,1] against [N,C,oh,kh,ow,kw]; onnxruntime's CPU kernels ran
  // that two elements at a time and it took half of the cnn's step.
  const mask = op.cast(g, op.compare(g, 'Equal', xc, upsampleNearest(g, y, kh, kw)), g.floatType);
  // Tied maxima share the gradient equally (a subgradient; every window holds its max, so count ≥ 1).
  const ties = windowSum(g, mask, kh, kw);
  const gxr = op.mul(g, mask, upsampleNearest(g, op.div(g, gy, ties), kh, kw));
  if (!cropped) return gxr;
  return g.node('Pad', [gxr, g.ints([0, 0, 0, 0, 0, 0, h - oh * kh, w - ow * kw])], [{ shape: x.shape }], { mode: attr.string('constant') })[0]!;
}

/**
 * Gradient of a max pool whose windows overlap, leave gaps or are padded, without argmax indices
 * (the WebGPU provider cannot output them): kh·kw strided slices of the input line up, for each
 * window, the values at one kernel offset; a mask marks those equal to the window's max, ties
 * share the gradient equally (as in the tiling pool), and one ConvTranspose with a one-hot
 * kernel per offset adds each share back at its input position. Padded cells are −∞,
 * so they are never a window's max.
 */
function maxPoolWindowGrad(g: GraphBuilder, x: Tensor, y: Tensor, gy: Tensor, o: op.PoolOptions): Tensor {
  const [n, c, h, w] = x.shape as [Tensor['shape'][number], number, number, number];
  const [, , oh, ow] = y.shape as number[];
  const [kh, kw] = o.kernel;
  const [sh, sw] = o.strides;
  const [p0, p1, p2, p3] = o.pads;
  const kk = kh * kw;
  const xp = o.pads.some((p) => p !== 0)
    ? g.node('Pad', [x, g.ints([0, 0, p0, p1, 0, 0, p2, p3]), g.constant(-Infinity)], [{ shape: [n, c, h + p0 + p2, w + p1 + p3] }], { mode: attr.string('constant') })[0]!
    : x;
  const pieces: Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const piece = g.node('Slice', [xp, g.ints([i, j]), g.ints([i + sh * (oh! - 1) + 1, j + sw * (ow! - 1) + 1]), g.ints([2, 3]), g.ints([sh, sw])],
        [{ shape: [n, c, oh!, ow!] }])[0]!;
      pieces.push(op.reshape(g, piece, [n, c, 1, oh!, ow!]));
    }
  }
  const atOffsets = g.node('Concat', pieces, [{ shape: [n, c, kk, oh!, ow!] }], { axis: attr.int(2) })[0]!;
  const mask = op.cast(g, op.compare(g, 'Equal', atOffsets, op.reshape(g, y, [n, c, 1, oh!, ow!])), g.floatType);
  const share = op.div(g, op.reshape(g, gy, [n, c, 1, oh!, ow!]), op.reduceSum(g, mask, [2], true));
  // Channels as batch rows: input channel i·kw + j carries the shares of offset (i, j), and its
  // kernel is a one at (i, j). Not a grouped ConvTranspose over [N, C·kh·kw]: onnxruntime-node
  // 1.30's WebGPU ConvTranspose gives wrong values with 4 input channels per group (measured).
  const shares = op.reshape(g, op.mul(g, mask, share), ['NC', kk, oh!, ow!]);
  const kernel = new Array<number>(kk * kk).fill(0);
  for (let t = 0; t < kk; t++) kernel[t * kk + t] = 1;
  const spread = op.convTranspose(g, shares, g.constant(kernel, [kk, 1, kh, kw]), { strides: o.strides, pads: o.pads }, [h, w]);
  return op.reshape(g, spread, [n, c, h, w]);
}

/**
 * [N,C,h,w] → [N,C,h·kh,w·kw], each value repeated over its kh×kw block. float32: one Resize
 * (nearest), which every provider runs fast. onnxruntime's CPU Resize has no float64 kernel, so
 * float64 graphs (the gradient checks) broadcast through a 6-D Expand: slower, the same values.
 */
function upsampleNearest(g: GraphBuilder, t: Tensor, kh: number, kw: number): Tensor {
  const [n, c, h, w] = t.shape as [Tensor['shape'][number], number, number, number];
  const shape = [n, c, h * kh, w * kw];
  if (g.floatType === 'float32') {
    return g.node('Resize', [t, g.constant([], [0], 'float32'), g.constant([1, 1, kh, kw], [4], 'float32')], [{ shape }], {
      mode: attr.string('nearest'), coordinate_transformation_mode: attr.string('asymmetric'), nearest_mode: attr.string('floor'),
    })[0]!;
  }
  const blocks = g.node('Expand', [op.reshape(g, t, [n, c, h, 1, w, 1]), g.ints([1, 1, 1, kh, 1, kw])], [{ shape: [n, c, h, kh, w, kw] }])[0]!;
  return op.reshape(g, blocks, shape);
}

/**
 * Sums over each kh×kw tile of [N,C,H,W]. float32: AveragePool × kh·kw (exact for 0/1 values
 * when kh·kw is a power of two, within an ulp otherwise). onnxruntime's CPU AveragePool has no
 * float64 kernel, so float64 graphs reduce a 6-D view instead.
 */
function windowSum(g: GraphBuilder, t: Tensor, kh: number, kw: number): Tensor {
  if (g.floatType === 'float32') {
    return op.mul(g, op.averagePool(g, t, { kernel: [kh, kw], strides: [kh, kw], pads: [0, 0, 0, 0] }), g.constant(kh * kw));
  }
  const [n, c, h, w] = t.shape as [Tensor['shape'][number], number, number, number];
  return op.reduceSum(g, op.reshape(g, t, [n, c, h / kh, kh, w / kw, kw]), [3, 5]);
}
