// A built model: validated layout plus its current weights and buffers (what buildModel returns).
import { type ModelLayout, initParams, layoutOf } from './layers.ts';
import { type ModelSpec, referenceSpec } from './model-spec.ts';

export interface Model {
  readonly layout: ModelLayout;
  weights: Float32Array[];
  buffers: Float32Array[];
}

export interface BuildModelOptions {
  seed?: number | string;
  /** Per-sample input shape for reference models (default [1, 28, 28]). */
  input?: number[];
  classes?: number;
}

/** Validates a spec (or names a reference model, 'mlp' or 'cnn') and initialises it from a seed. */
export function buildModel(spec: 'mlp' | 'cnn' | ModelSpec, o: BuildModelOptions = {}): Model {
  const s = typeof spec === 'string' ? referenceSpec(spec, o.input, o.classes) : spec;
  const layout = layoutOf(s);
  return {
    layout,
    weights: initParams(layout, o.seed ?? 0),
    buffers: layout.buffers.map((b) => new Float32Array(b.shape.reduce((a, c) => a * c, 1)).fill(b.initValue)),
  };
}

/** Number of trainable values. */
export function parameterCount(m: Model): number {
  return m.weights.reduce((a, w) => a + w.length, 0);
}
