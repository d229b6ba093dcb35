// Layers: their parameters, initialisation and the ONNX nodes of their forward pass (train and eval modes).
import { type GraphBuilder, type Tensor } from './graph.ts';
import * as op from './ops.ts';
import { type LayerSpec, type ModelSpec, layerOutputShape, validateSpec } from './model-spec.ts';
import { SeededRng } from '../util/prng.ts';

/** A trainable tensor: name, shape and how it is initialised. */
export interface ParamInfo { name: string; shape: number[]; init: 'he' | 'glorot' | 'zeros' | 'ones'; fanIn: number; fanOut: number }
/** Non-trainable state updated by training (BatchNorm running statistics). */
export interface BufferInfo { name: string; shape: number[]; initValue: number }
/** A dropout site: the trainer feeds a fresh mask of shape [N, ...shape] each step. */
export interface DropoutInfo { name: string; shape: number[]; rate: number }

/** What a forward pass needs from its caller: parameter tensors, mode, buffers and dropout masks. */
export interface ForwardContext {
  g: GraphBuilder;
  train: boolean;
  param(name: string): Tensor;
  buffer(name: string): Tensor;
  /** Records a buffer's updated value (train mode) as a graph output. */
  updateBuffer(name: string, value: Tensor): void;
  dropoutMask(name: string): Tensor;
}

/** A model: validated spec plus the lists of its parameters, buffers and dropout sites. */
export interface ModelLayout {
  spec: ModelSpec;
  params: ParamInfo[];
  buffers: BufferInfo[];
  dropouts: DropoutInfo[];
}

function collect(layers: LayerSpec[], inShape: number[], prefix: string, out: ModelLayout): void {
  let s = inShape;
  layers.forEach((l, i) => {
    const name = `${prefix}${i}`;
    const next = layerOutputShape(l, s, `layer ${name}`);
    switch (l.type) {
      case 'dense':
        out.params.push({ name: `${name}.W`, shape: [s[0]!, l.units], init: l.init ?? 'he', fanIn: s[0]!, fanOut: l.units });
        out.params.push({ name: `${name}.b`, shape: [l.units], init: 'zeros', fanIn: 0, fanOut: 0 });
        break;
      case 'conv2d': {
        const fanIn = s[0]! * l.kernel * l.kernel;
        out.params.push({ name: `${name}.W`, shape: [l.filters, s[0]!, l.kernel, l.kernel], init: l.init ?? 'he', fanIn, fanOut: l.filters * l.kernel * l.kernel });
        out.params.push({ name: `${name}.b`, shape: [l.filters], init: 'zeros', fanIn: 0, fanOut: 0 });
        break;
      }
      case 'batchnorm': case 'layernorm': {
        const c = l.type === 'layernorm' ? s[s.length - 1]! : s[0]!;
        out.params.push({ name: `${name}.gamma`, shape: [c], init: 'ones', fanIn: 0, fanOut: 0 });
        out.params.push({ name: `${name}.beta`, shape: [c], init: 'zeros', fanIn: 0, fanOut: 0 });
        if (l.type === 'batchnorm') {
          out.buffers.push({ name: `${name}.runningMean`, shape: [c], initValue: 0 });
          out.buffers.push({ name: `${name}.runningVar`, shape: [c], initValue: 1 });
        }
        break;
      }
      case 'embedding':
        out.params.push({ name: `${name}.table`, shape: [l.vocab, l.dim], init: 'glorot', fanIn: l.vocab, fanOut: l.dim });
        break;
      case 'dropout':
        out.dropouts.push({ name: `${name}.mask`, shape: s, rate: l.rate });
        break;
      case 'residual':
        collect(l.layers, s, `${name}.`, out);
        break;
      default:
    }
    s = next;
  });
}

/** Validates a spec and lists what it owns. Throws E_INVALID_MODEL_SPEC / E_SHAPE_MISMATCH. */
export function layoutOf(spec: ModelSpec): ModelLayout {
  validateSpec(spec);
  const out: ModelLayout = { spec, params: [], buffers: [], dropouts: [] };
  collect(spec.layers, spec.input, 'l', out);
  return out;
}

/** Seeded initial values: He-normal (ReLU nets) or Glorot-uniform weights, zero biases, unit scales. */
export function initParams(layout: ModelLayout, seed: number | string): Float32Array[] {
  const rng = new SeededRng(seed);
  return layout.params.map((p) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    if (p.init === 'ones') v.fill(1);
    else if (p.init === 'he') { const std = Math.sqrt(2 / p.fanIn); for (let i = 0; i < n; i++) v[i] = rng.normal() * std; }
    else if (p.init === 'glorot') { const a = Math.sqrt(6 / (p.fanIn + p.fanOut)); for (let i = 0; i < n; i++) v[i] = (2 * rng.next() - 1) * a; }
    return v;
  });
}

function normalise(ctx: ForwardContext, x: Tensor, name: string, l: { type: 'batchnorm'; momentum?: number; eps?: number }, spatial: boolean): Tensor {
  const { g } = ctx;
  const axes = spatial ? [0, 2, 3] : [0];
  const bshape = (t: Tensor) => (spatial ? op.reshape(g, t, [t.shape[0]!, 1, 1]) : t);
  const eps = g.constant(l.eps ?? 1e-5);
  let mean: Tensor, variance: Tensor;
  if (ctx.train) {
    const m = op.reduceMean(g, x, axes, true);
    const centred = op.sub(g, x, m);
    const v = op.reduceMean(g, op.mul(g, centred, centred), axes, true);
    const c = x.shape[1] as number;
    const perChannel = spatial ? op.mul(g, op.rowCount(g, x), g.constant((x.shape[2] as number) * (x.shape[3] as number))) : op.rowCount(g, x);
    // A batch of one value per channel (a last partial batch of one sample, say) has no variance to
    // learn from: PyTorch refuses it; here it leaves the running statistics as they were (momentum ×
    // 0) rather than pulling the variance towards 0. Its normalised output is β, so the layers before
    // get no gradient from it.
    const learns = op.sub(g, g.constant(1), op.max(g, op.sub(g, g.constant(2), perChannel), g.constant(0)));
    const mom = op.mul(g, g.constant(l.momentum ?? 0.1), learns);
    const upd = (buf: string, stat: Tensor) => {
      const flat = op.reshape(g, stat, [c]);
      ctx.updateBuffer(buf, op.add(g, op.mul(g, ctx.buffer(buf), op.sub(g, g.constant(1), mom)), op.mul(g, flat, mom)));
    };
    upd(`${name}.runningMean`, m);
    // The running variance takes the unbiased batch variance, n/(n−1) times the one used to
    // normalise (n values per channel), as PyTorch does, so eval mode matches a PyTorch-trained
    // model's (n − 1 is kept ≥ 1 so that a batch of one, not learned from, divides by no zero).
    upd(`${name}.runningVar`, op.mul(g, v, op.div(g, perChannel, op.max(g, op.sub(g, perChannel, g.constant(1)), g.constant(1)))));
    const xhat = op.div(g, centred, op.sqrt(g, op.add(g, v, eps)));
    return op.add(g, op.mul(g, xhat, bshape(ctx.param(`${name}.gamma`))), bshape(ctx.param(`${name}.beta`)));
  }
  mean = bshape(ctx.buffer(`${name}.runningMean`));
  variance = bshape(ctx.buffer(`${name}.runningVar`));
  const xhat = op.div(g, op.sub(g, x, mean), op.sqrt(g, op.add(g, variance, eps)));
  return op.add(g, op.mul(g, xhat, bshape(ctx.param(`${name}.gamma`))), bshape(ctx.param(`${name}.beta`)));
}

/** Emits the forward pass of a list of layers; `x` is [N, ...inShape]. */
export function forwardLayers(ctx: ForwardContext, layers: LayerSpec[], x: Tensor, prefix = 'l'): Tensor {
  const { g } = ctx;
  layers.forEach((l, i) => {
    const name = `${prefix}${i}`;
    switch (l.type) {
      case 'dense': x = op.gemm(g, x, ctx.param(`${name}.W`), ctx.param(`${name}.b`)); break;
      case 'conv2d': {
        const p = l.padding ?? 0;
        const s = l.stride ?? 1;
        x = op.conv(g, x, ctx.param(`${name}.W`), ctx.param(`${name}.b`), { strides: [s, s], pads: [p, p, p, p] });
        break;
      }
      case 'maxpool2d': case 'avgpool2d': {
        const s = l.stride ?? l.size;
        const o = { kernel: [l.size, l.size] as [number, number], strides: [s, s] as [number, number], pads: [0, 0, 0, 0] as [number, number, number, number] };
        x = l.type === 'maxpool2d' ? op.maxPool(g, x, o) : op.averagePool(g, x, o);
        break;
      }
      case 'globalavgpool': x = op.reshape(g, op.globalAveragePool(g, x), ['N', x.shape[1]!]); break;
      case 'flatten': x = x.shape.length === 2 ? x : op.flatten(g, x); break;
      case 'relu': x = op.relu(g, x); break;
      case 'tanh': x = op.tanh(g, x); break;
      case 'gelu': {
        // Exact GELU: x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
        const e = op.erf(g, op.mul(g, x, g.constant(Math.SQRT1_2)));
        x = op.mul(g, op.mul(g, x, g.constant(0.5)), op.add(g, e, g.constant(1)));
        break;
      }
      case 'dropout': if (ctx.train && l.rate > 0) x = op.mul(g, x, ctx.dropoutMask(`${name}.mask`)); break;
      case 'batchnorm': x = normalise(ctx, x, name, l, x.shape.length === 4); break;
      case 'layernorm': {
        const m = op.reduceMean(g, x, [-1], true);
        const c = op.sub(g, x, m);
        const v = op.reduceMean(g, op.mul(g, c, c), [-1], true);
        const xhat = op.div(g, c, op.sqrt(g, op.add(g, v, g.constant(l.eps ?? 1e-5))));
        x = op.add(g, op.mul(g, xhat, ctx.param(`${name}.gamma`)), ctx.param(`${name}.beta`));
        break;
      }
      case 'embedding': {
        const ids = op.cast(g, x, 'int64');
        x = op.reduceMean(g, op.gather(g, ctx.param(`${name}.table`), ids), [1]);
        break;
      }
      case 'residual': x = op.add(g, x, forwardLayers(ctx, l.layers, x, `${name}.`)); break;
    }
  });
  return x;
}
