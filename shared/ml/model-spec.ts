// Model specs (a Sequential of layers as plain data), the reference models, and validation with clear errors.
import { UsageError } from '../util/errors.ts';
import { didYouMean } from '../util/suggest.ts';

export type Init = 'he' | 'glorot';

export type LayerSpec =
  | { type: 'dense'; units: number; init?: Init }
  | { type: 'conv2d'; filters: number; kernel: number; stride?: number; padding?: number; init?: Init }
  | { type: 'maxpool2d'; size: number; stride?: number }
  | { type: 'avgpool2d'; size: number; stride?: number }
  | { type: 'globalavgpool' }
  | { type: 'flatten' }
  | { type: 'relu' }
  | { type: 'tanh' }
  | { type: 'gelu' }
  | { type: 'dropout'; rate: number }
  | { type: 'batchnorm'; momentum?: number; eps?: number }
  | { type: 'layernorm'; eps?: number }
  | { type: 'embedding'; vocab: number; dim: number }
  | { type: 'residual'; layers: LayerSpec[] };

/** A classifier: per-sample input shape (channels first), number of classes, layers in order. */
export interface ModelSpec {
  input: number[];
  classes: number;
  layers: LayerSpec[];
}

export const LAYER_TYPES = ['dense', 'conv2d', 'maxpool2d', 'avgpool2d', 'globalavgpool', 'flatten', 'relu', 'tanh', 'gelu',
  'dropout', 'batchnorm', 'layernorm', 'embedding', 'residual'] as const;

/** The settings each layer type takes besides `type`: any other key is refused, never ignored (a `strides: 2` would train a stride-1 conv). */
const LAYER_KEYS: Record<LayerSpec['type'], readonly string[]> = {
  dense: ['units', 'init'], conv2d: ['filters', 'kernel', 'stride', 'padding', 'init'], maxpool2d: ['size', 'stride'],
  avgpool2d: ['size', 'stride'], globalavgpool: [], flatten: [], relu: [], tanh: [], gelu: [], dropout: ['rate'],
  batchnorm: ['momentum', 'eps'], layernorm: ['eps'], embedding: ['vocab', 'dim'], residual: ['layers'],
};

/** The reference models of the issue: mlp = 784-512-256-10 ReLU, cnn = two conv3x3/maxpool stages + dense128. */
export function referenceSpec(name: string, input: number[] = [1, 28, 28], classes = 10): ModelSpec {
  switch (name) {
    case 'mlp':
      return { input, classes, layers: [{ type: 'flatten' }, { type: 'dense', units: 512 }, { type: 'relu' }, { type: 'dense', units: 256 }, { type: 'relu' }, { type: 'dense', units: classes }] };
    case 'cnn':
      return {
        input, classes, layers: [
          { type: 'conv2d', filters: 32, kernel: 3 }, { type: 'relu' }, { type: 'maxpool2d', size: 2 },
          { type: 'conv2d', filters: 64, kernel: 3 }, { type: 'relu' }, { type: 'maxpool2d', size: 2 },
          { type: 'flatten' }, { type: 'dense', units: 128 }, { type: 'relu' }, { type: 'dense', units: classes },
        ],
      };
    default:
      throw new UsageError(`unknown model "${name}"; use mlp, cnn or a ModelSpec object`, 'E_UNKNOWN_MODEL');
  }
}

const bad = (where: string, why: string): UsageError => new UsageError(`model spec ${where}: ${why}`, 'E_INVALID_MODEL_SPEC');
export const shapeMismatch = (where: string, why: string): UsageError => new UsageError(`model spec ${where}: ${why}`, 'E_SHAPE_MISMATCH');

function posInt(v: unknown, where: string, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw bad(where, `${field} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** An optional number in (lo, hi] (or [lo, hi] with `closedLo`); absent means the layer's default. */
function optionalIn(v: unknown, where: string, field: string, lo: number, hi: number, closedLo = false): void {
  if (v === undefined) return;
  const ok = typeof v === 'number' && Number.isFinite(v) && (closedLo ? v >= lo : v > lo) && v <= hi;
  if (!ok) throw bad(where, `${field} must be a number in ${closedLo ? '[' : '('}${lo}, ${hi}], got ${JSON.stringify(v)}`);
}

/** `init` must name an initialiser: any other value would leave the weights at zero. */
function validInit(v: unknown, where: string): void {
  if (v !== undefined && v !== 'he' && v !== 'glorot') throw bad(where, `init must be 'he' or 'glorot', got ${JSON.stringify(v)}`);
}

/** Checks one layer's fields and returns its per-sample output shape; throws before any graph exists. */
export function layerOutputShape(l: LayerSpec, inShape: readonly number[], where: string): number[] {
  if (!l || typeof l !== 'object' || !LAYER_TYPES.includes((l as LayerSpec).type)) {
    throw bad(where, `unknown layer type ${JSON.stringify((l as { type?: unknown })?.type)}; expected one of ${LAYER_TYPES.join(', ')}`);
  }
  const known = LAYER_KEYS[l.type];
  for (const k of Object.keys(l)) {
    if (k !== 'type' && !known.includes(k)) {
      throw bad(where, `${l.type} has no setting ${JSON.stringify(k)}${didYouMean(k, known)}; ${known.length ? `its settings are ${known.join(', ')}` : 'it takes none'}`);
    }
  }
  const rank = inShape.length;
  const spatial = (what: string) => {
    if (rank !== 3) throw shapeMismatch(where, `${what} needs a [C,H,W] input, got [${inShape}]`);
    return inShape as [number, number, number];
  };
  switch (l.type) {
    case 'dense':
      posInt(l.units, where, 'units');
      validInit(l.init, where);
      if (rank !== 1) throw shapeMismatch(where, `dense needs a flat input, got [${inShape}]; add {type:'flatten'} before it`);
      return [l.units];
    case 'conv2d': {
      const [, h, w] = spatial('conv2d');
      const k = posInt(l.kernel, where, 'kernel');
      posInt(l.filters, where, 'filters');
      validInit(l.init, where);
      const s = posInt(l.stride ?? 1, where, 'stride');
      const p = l.padding ?? 0;
      if (!Number.isSafeInteger(p) || p < 0) throw bad(where, `padding must be a non-negative integer, got ${p}`);
      const oh = Math.floor((h + 2 * p - k) / s) + 1;
      const ow = Math.floor((w + 2 * p - k) / s) + 1;
      if (oh < 1 || ow < 1) throw shapeMismatch(where, `kernel ${k} does not fit a ${h}x${w} input with padding ${p}`);
      return [l.filters, oh, ow];
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const [c, h, w] = spatial(l.type);
      const k = posInt(l.size, where, 'size');
      const s = posInt(l.stride ?? k, where, 'stride');
      if (k > h || k > w) throw shapeMismatch(where, `pool size ${k} does not fit a ${h}x${w} input`);
      return [c, Math.floor((h - k) / s) + 1, Math.floor((w - k) / s) + 1];
    }
    case 'globalavgpool':
      return [spatial('globalavgpool')[0]];
    case 'flatten':
      return [inShape.reduce((a, b) => a * b, 1)];
    case 'relu': case 'tanh': case 'gelu':
      return [...inShape];
    case 'dropout':
      if (typeof l.rate !== 'number' || !(l.rate >= 0 && l.rate < 1)) throw bad(where, `dropout rate must be in [0, 1), got ${l.rate}`);
      return [...inShape];
    case 'batchnorm':
      // PyTorch's convention: running = (1 − momentum)·running + momentum·batch statistic.
      optionalIn(l.momentum, where, 'momentum', 0, 1, true);
      optionalIn(l.eps, where, 'eps', 0, 1);
      if (rank !== 1 && rank !== 3) throw shapeMismatch(where, `batchnorm needs [D] or [C,H,W], got [${inShape}]`);
      return [...inShape];
    case 'layernorm':
      optionalIn(l.eps, where, 'eps', 0, 1);
      return [...inShape];
    case 'embedding':
      posInt(l.vocab, where, 'vocab');
      posInt(l.dim, where, 'dim');
      if (rank !== 1) throw shapeMismatch(where, `embedding needs a [L] input of token ids, got [${inShape}]`);
      return [l.dim];
    case 'residual': {
      if (!Array.isArray(l.layers) || l.layers.length === 0) throw bad(where, 'residual needs a non-empty layers list');
      if (l.layers.some((inner) => inner?.type === 'embedding')) throw bad(where, 'embedding must be the first layer of the model, not inside a residual branch');
      let s: number[] = [...inShape];
      l.layers.forEach((inner, i) => { s = layerOutputShape(inner, s, `${where}.${i}`); });
      if (s.join(',') !== inShape.join(',')) throw shapeMismatch(where, `residual branch maps [${inShape}] to [${s}]; it must keep the shape`);
      return s;
    }
  }
}

const SPEC_KEYS: readonly string[] = ['input', 'classes', 'layers'];

/** Validates a whole spec: every layer, and that the output is [classes]. Returns per-layer input shapes. */
export function validateSpec(spec: ModelSpec): number[][] {
  if (!spec || !Array.isArray(spec.input) || spec.input.length === 0) throw bad('input', 'must be a non-empty list of positive integers');
  for (const k of Object.keys(spec)) {
    if (!SPEC_KEYS.includes(k)) throw bad(k, `is not a model spec field${didYouMean(k, SPEC_KEYS)}; a spec has ${SPEC_KEYS.join(', ')}`);
  }
  spec.input.forEach((d, i) => posInt(d, 'input', `input[${i}]`));
  posInt(spec.classes, 'classes', 'classes');
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) throw bad('layers', 'must be a non-empty list');
  const shapes: number[][] = [];
  let s = [...spec.input];
  spec.layers.forEach((l, i) => {
    const where = `layer ${i} (${(l as LayerSpec)?.type})`;
    // Token ids exist only in the model's input: anywhere else the layer would cast activations to ids.
    if (i > 0 && (l as LayerSpec)?.type === 'embedding') throw bad(where, 'embedding must be the first layer: it reads token ids from the input');
    shapes.push(s);
    s = layerOutputShape(l, s, where);
  });
  if (s.length !== 1 || s[0] !== spec.classes) {
    throw shapeMismatch('output', `the last layer gives [${s}] per sample but the model has ${spec.classes} classes; end with {type:'dense', units:${spec.classes}}`);
  }
  return shapes;
}
