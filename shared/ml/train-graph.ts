// Builds the engine's graphs: one training step (forward, loss, gradients, update), loss+gradients, inference.
import { GraphBuilder, type Tensor, attr } from './graph.ts';
import * as op from './ops.ts';
import { type GradientStart, gradients } from './autodiff.ts';
import { type ForwardContext, type ModelLayout, forwardLayers } from './layers.ts';
import { type LossConfig, type LossInputs, buildLoss, declareLossInputs, logitGradient, oneHotCrossEntropy } from './losses.ts';
import { type OptimizerConfig, planUpdate, stateSlots } from './optimizers.ts';

export type FloatType = 'float32' | 'float64';

/** Graph value names, fixed so that the trainer can feed step t's outputs into step t+1. */
export const names = {
  param: (p: string) => `param:${p}`,
  state: (p: string, slot: string) => `opt:${p}:${slot}`,
  buffer: (b: string) => `buf:${b}`,
  mask: (m: string) => `mask:${m}`,
  grad: (p: string) => `grad:${p}`,
  next: (input: string) => `${input}:next`,
};

interface ForwardOptions {
  train: boolean;
  /** Bake weights (and buffers) in as initializers instead of declaring them as inputs. */
  weights?: readonly Float32Array[];
  buffers?: readonly Float32Array[];
  /** Declare x with this name and per-sample shape (default: 'x', the spec's input). */
  inputName?: string;
  /** Use this tensor as x instead of declaring an input (the Loop body gathers it). */
  x?: Tensor;
  /** Use these dropout masks (by dropout name) instead of declaring `mask:*` inputs (the Loop body gathers them). */
  masks?: ReadonlyMap<string, Tensor>;
  /** Use these params and buffers (by buffer name) instead of declaring inputs: the previous step's updates. */
  params?: readonly Tensor[];
  bufferValues?: ReadonlyMap<string, Tensor>;
}

export interface Forward { x: Tensor; logits: Tensor; params: Tensor[]; buffers: Map<string, Tensor>; bufferUpdates: Map<string, Tensor> }

/** Declares the model's inputs on `g` and emits its forward pass. */
export function emitForward(g: GraphBuilder, layout: ModelLayout, o: ForwardOptions): Forward {
  const x = o.x ?? g.input(o.inputName ?? 'x', ['N', ...layout.spec.input]);
  const params = o.params ? [...o.params] : layout.params.map((p, i) =>
    o.weights ? g.initializer(names.param(p.name), p.shape, o.weights[i]!) : g.input(names.param(p.name), p.shape));
  const byName = new Map(layout.params.map((p, i) => [p.name, params[i]!]));
  const buffers = new Map(layout.buffers.map((b, i) => [b.name, o.bufferValues?.get(b.name) ??
    (o.buffers ? g.initializer(names.buffer(b.name), b.shape, o.buffers[i]!) : g.input(names.buffer(b.name), b.shape))]));
  const masks = o.masks ?? new Map(o.train ? layout.dropouts.map((d) => [d.name, g.input(names.mask(d.name), ['N', ...d.shape])]) : []);
  const bufferUpdates = new Map<string, Tensor>();
  const ctx: ForwardContext = {
    g, train: o.train,
    param: (n) => byName.get(n)!,
    buffer: (n) => buffers.get(n)!,
    updateBuffer: (n, v) => bufferUpdates.set(n, v),
    dropoutMask: (n) => masks.get(n)!,
  };
  const logits = forwardLayers(ctx, layout.spec.layers, x);
  return { x, logits, params, buffers, bufferUpdates };
}

/**
 * Number of argmax agreements between logits and targets, as a scalar. Float ops only:
 * onnxruntime's WebGPU provider runs int64 ArgMax/Equal/Cast on the CPU, which would stall every
 * step on a GPU→CPU copy. With one-hot targets it is the sum of y at each row's predicted class:
 * no argmax of y, and three kernels after the argmax of z.
 */
function correctCount(g: GraphBuilder, z: Tensor, y: Tensor, oneHot: boolean): Tensor {
  if (oneHot) {
    const predicted = op.compare(g, 'Equal', op.classIndices(g, y.shape[1] as number, g.floatType), op.argmaxFloat(g, z, true));
    return op.reduceSum(g, op.where(g, predicted, y, g.constant(0)), [0, 1]);
  }
  const eq = op.compare(g, 'Equal', op.argmaxFloat(g, z), op.argmaxFloat(g, y));
  return op.reduceSum(g, op.cast(g, eq, g.floatType), [0]);
}

export interface StepGraphSpec {
  layout: ModelLayout; loss: LossConfig; optimizer: OptimizerConfig; floatType?: FloatType;
  /**
   * The hard targets are one-hot rows (the trainer's labels), not any distribution: cross-entropy
   * and the agreement count then take shortcuts that save kernels per step.
   */
  oneHotTargets?: boolean;
  /**
   * Take the batch from whole-dataset inputs `all:x`, `all:y_hard`, … [M, …] by row numbers `rows`
   * (int64 [N]) instead of batch inputs: the data is uploaded to a GPU once, and a step uploads
   * only N row numbers.
   */
  gatherRows?: boolean;
  /**
   * Steps in the graph (default 1), unrolled: step i reads rows `rows@i` and dropout masks
   * `mask:<name>@i`, and updates what step i+1 reads; the learning rate is shared and step i counts
   * as `step` + i. Needs `gatherRows`. It is the K-step run for GPU providers, which (in
   * onnxruntime-node 1.30's WebGPU provider) have no Loop kernel.
   */
  steps?: number;
  /** The graph runs on a GPU provider (see `GraphBuilder.forGpu`). */
  forGpu?: boolean;
}

/** Name of an input of step i in a K-step graph (`rows@2`); K = 1 keeps the plain name. */
export const atStep = (name: string, i: number, k: number) => (k === 1 ? name : `${name}@${i}`);

/** Names of the per-sample inputs a step reads (x and the loss's targets), with their per-row shapes. */
export function batchColumns(s: StepGraphSpec): { name: string; row: number[] }[] {
  const { input, classes } = s.layout.spec;
  const cols = [{ name: 'x', row: [...input] }];
  if (s.loss.kind === 'ce' || s.loss.hardWeight > 0) cols.push({ name: 'y_hard', row: [classes] });
  if (s.loss.kind === 'distill' && s.loss.hardWeight < 1) {
    cols.push({ name: 'y_soft', row: [classes] });
    if (s.loss.soft === 'kl') cols.push({ name: 'temperature', row: [1] });
  }
  return cols;
}

/** Whole-dataset input name of a batch column (see `gatherRows`). */
export const allRows = (column: string) => `all:${column}`;

/**
 * One training step (or `steps` unrolled) as one graph. Inputs: x and targets (or `all:*` and
 * rows), lr, step, params, optimizer state, buffers, dropout masks, metrics [2]. Outputs:
 * `<input>:next` for every param, state and updated buffer, and `metrics:next` = metrics +
 * Σ over the steps of [loss × rows, correct].
 */
export function buildStepGraph(s: StepGraphSpec): GraphBuilder {
  const g = new GraphBuilder('train_step', s.floatType ?? 'float32');
  g.forGpu = s.forGpu ?? false;
  const k = s.steps ?? 1;
  if (!Number.isSafeInteger(k) || k < 1) throw new Error(`buildStepGraph: steps must be a positive integer, got ${k}`);
  if (k > 1 && !s.gatherRows) throw new Error('buildStepGraph: more than one step per graph needs gatherRows');
  const all = s.gatherRows ? new Map(batchColumns(s).map((c) => [c.name, g.input(allRows(c.name), ['M', ...c.row])])) : undefined;
  const lr = g.input('lr', []);
  const step0 = g.input('step', []);
  // Running sums [Σ loss·rows, Σ correct] stay a graph value fed from step to step, so a GPU
  // provider need not copy anything back and wait at the end of each step.
  let metrics = g.input('metrics', [2]);
  let prev: Map<string, Tensor> | undefined; // the previous step's next params, optimizer state and buffers
  for (let i = 0; i < k; i++) {
    let f: Forward, lossIn: LossInputs;
    const chained = prev && { params: s.layout.params.map((p) => prev!.get(names.param(p.name))!), bufferValues: new Map(s.layout.buffers.map((b) => [b.name, prev!.get(names.buffer(b.name))!])) };
    if (all) {
      const rows = g.input(atStep('rows', i, k), ['N'], 'int64');
      const cols = new Map([...all].map(([name, t]) => [name, op.gather(g, t, rows)]));
      const masks = k === 1 ? undefined : new Map(s.layout.dropouts.map((d) => [d.name, g.input(atStep(names.mask(d.name), i, k), ['N', ...d.shape])]));
      f = emitForward(g, s.layout, { train: true, x: cols.get('x'), masks, ...chained });
      lossIn = { hard: cols.get('y_hard'), soft: cols.get('y_soft'), temperature: cols.get('temperature') };
    } else {
      f = emitForward(g, s.layout, { train: true });
      lossIn = declareLossInputs(g, s.loss, s.layout.spec.classes);
    }
    const step = i === 0 ? step0 : op.add(g, step0, g.constant(i));
    const r = stepUpdates(g, s, f, lossIn, lr, step, (name, shape) => prev?.get(name) ?? g.input(name, shape));
    metrics = op.add(g, metrics, g.node('Concat', [op.reshape(g, r.lossSum, [1]), op.reshape(g, r.correct, [1])], [{ shape: [2] }], { axis: attr.int(0) })[0]!);
    prev = r.next;
    // A buffer this step does not update reaches the next step as it was.
    for (const b of s.layout.buffers) if (!prev.has(names.buffer(b.name))) prev.set(names.buffer(b.name), f.buffers.get(b.name)!);
  }
  for (const [name, t] of prev!) if (t.name !== name) g.output(t, names.next(name)); // (not a buffer no step updates)
  g.output(metrics, names.next('metrics'));
  return g;
}

/**
 * Summed loss (loss × rows), correct count, gradients and update for one batch, reading optimizer
 * state through `state(name, shape)`. Returns the next value of every param, optimizer slot and
 * updated buffer, by the name of the input it replaces.
 */
function stepUpdates(g: GraphBuilder, s: StepGraphSpec, f: Forward, lossIn: LossInputs, lr: Tensor, step: Tensor, state: (name: string, shape: number[]) => Tensor): { lossSum: Tensor; correct: Tensor; next: Map<string, Tensor> } {
  const oneHot = !!s.oneHotTargets && !!lossIn.hard;
  let lossSum: Tensor, start: GradientStart;
  if (oneHot && s.loss.kind === 'ce') {
    const ce = oneHotCrossEntropy(g, f.logits, lossIn.hard!);
    lossSum = ce.lossSum;
    start = { at: f.logits, grad: ce.grad };
  } else {
    const loss = buildLoss(g, s.loss, f.logits, lossIn);
    lossSum = op.mul(g, loss, op.rowCount(g, f.logits));
    const seed = logitGradient(g, s.loss, f.logits, lossIn);
    start = seed ? { at: f.logits, grad: seed } : loss;
  }
  const correct = correctCount(g, f.logits, (lossIn.hard ?? lossIn.soft)!, oneHot);
  const grads = gradients(g, start, f.params);
  const plan = planUpdate(g, s.optimizer, { lr, step });
  const slots = stateSlots(s.optimizer);
  const next = new Map<string, Tensor>();
  s.layout.params.forEach((p, i) => {
    const r = plan.update(f.params[i]!, grads[i]!, slots.map((slot) => state(names.state(p.name, slot), p.shape)));
    next.set(names.param(p.name), r.param);
    r.state.forEach((t, k) => next.set(names.state(p.name, slots[k]!), t));
  });
  for (const [b, t] of f.bufferUpdates) next.set(names.buffer(b), t);
  return { lossSum, correct, next };
}

/**
 * Summed loss, correct count, gradients and update for one batch; declares state inputs and
 * `:next` outputs. Returns the summed loss (loss × rows) and correct count (scalars) for the
 * caller to output or accumulate.
 */
export function emitStep(g: GraphBuilder, s: StepGraphSpec, f: Forward, lossIn: LossInputs, lr: Tensor, step: Tensor): { lossSum: Tensor; correct: Tensor } {
  const r = stepUpdates(g, s, f, lossIn, lr, step, (name, shape) => g.input(name, shape));
  for (const [name, t] of r.next) g.output(t, names.next(name));
  return { lossSum: r.lossSum, correct: r.correct };
}

/** Loss and (optionally) its gradients w.r.t. every param and x: the graph gradient checks compare. */
export function buildLossGraph(layout: ModelLayout, loss: LossConfig, floatType: FloatType, withGrads: boolean, train = true, forGpu = false): GraphBuilder {
  const g = new GraphBuilder('loss', floatType);
  g.forGpu = forGpu;
  const f = emitForward(g, layout, { train });
  const lossIn = declareLossInputs(g, loss, layout.spec.classes);
  const l = buildLoss(g, loss, f.logits, lossIn);
  g.output(l, 'loss');
  if (withGrads) {
    const wrt = [...f.params, f.x];
    const grads = gradients(g, l, wrt);
    layout.params.forEach((p, i) => g.output(grads[i]!, names.grad(p.name)));
    g.output(grads[grads.length - 1]!, names.grad('x'));
  }
  return g;
}

/**
 * Inference graph: x → logits, probs (eval mode). With `weights` it is self-contained (the
 * deployable .onnx); without, weights are inputs so one session serves every step of training.
 */
export function buildInferenceGraph(layout: ModelLayout, weights?: readonly Float32Array[], buffers?: readonly Float32Array[], inputName = 'input'): GraphBuilder {
  const g = new GraphBuilder('classifier');
  const f = emitForward(g, layout, { train: false, weights, buffers: weights ? buffers : undefined, inputName });
  g.output(f.logits, 'logits');
  g.output(op.softmax(g, f.logits, 1), 'probs');
  return g;
}
