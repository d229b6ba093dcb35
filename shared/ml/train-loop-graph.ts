// K training steps in one session.run: the step graph as the body of an ONNX Loop over stacked batches.
import { GraphBuilder, type Tensor, attr } from './graph.ts';
import * as op from './ops.ts';
import { type LossInputs } from './losses.ts';
import { stateSlots } from './optimizers.ts';
import { type StepGraphSpec, emitForward, emitStep, names } from './train-graph.ts';

/** Outer-graph names: prefixed so they never shadow the body's names (ONNX subgraph scoping). */
export const outer = (name: string) => `outer/${name}`;

/** Names of the loop-carried training state, in a fixed order. */
export function carriedNames(s: StepGraphSpec): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [];
  for (const p of s.layout.params) {
    out.push({ name: names.param(p.name), shape: p.shape });
    for (const slot of stateSlots(s.optimizer)) out.push({ name: names.state(p.name, slot), shape: p.shape });
  }
  for (const b of s.layout.buffers) out.push({ name: names.buffer(b.name), shape: b.shape });
  return out;
}

/**
 * Inputs: outer/xs [K,N,...], outer/ys_hard|ys_soft [K,N,C], outer/temperatures [K,N,1],
 * outer/mask:<dropout> [K,N,...] (one mask per step), outer/lr,
 * outer/step (t of the first step), outer/trips (int64 K), outer/<state>. Outputs: outer/<state>:next,
 * outer/loss_sums [K] (each step's loss × rows), outer/corrects [K]. The learning rate is constant within one run.
 */
export function buildLoopStepGraph(s: StepGraphSpec): GraphBuilder {
  const ft = s.floatType ?? 'float32';
  const { input, classes } = s.layout.spec;
  const g = new GraphBuilder('train_loop', ft, 'o_');
  const xs = g.input(outer('xs'), ['K', 'N', ...input]);
  const needHard = s.loss.kind === 'ce' || s.loss.hardWeight > 0;
  const needSoft = s.loss.kind === 'distill' && s.loss.hardWeight < 1;
  const ysHard = needHard ? g.input(outer('ys_hard'), ['K', 'N', classes]) : undefined;
  const ysSoft = needSoft ? g.input(outer('ys_soft'), ['K', 'N', classes]) : undefined;
  const temps = needSoft && s.loss.kind === 'distill' && s.loss.soft === 'kl' ? g.input(outer('temperatures'), ['K', 'N', 1]) : undefined;
  // One dropout mask per step, stacked like the batches (the trainer draws them as single steps would).
  const maskStacks = s.layout.dropouts.map((d) => [d.name, g.input(outer(names.mask(d.name)), ['K', 'N', ...d.shape])] as const);
  const lr = g.input(outer('lr'), []);
  const step0 = g.input(outer('step'), []);
  const trips = g.input(outer('trips'), [], 'int64');
  const carried = carriedNames(s);
  const carriedIn = carried.map((c) => g.input(outer(c.name), c.shape));

  const b = new GraphBuilder('train_loop_body', ft, 'b_');
  const iter = b.input('iter', [], 'int64');
  const condIn = b.input('cond_in', [], 'bool');
  const stepIn = b.input('step', []);
  const pick = (t: Tensor | undefined) => (t ? op.gather(b, t, iter) : undefined);
  const f = emitForward(b, s.layout, { train: true, x: pick(xs), masks: new Map(maskStacks.map(([name, t]) => [name, pick(t)!])) });
  const lossIn: LossInputs = { hard: pick(ysHard), soft: pick(ysSoft), temperature: pick(temps) };
  const { lossSum, correct } = emitStep(b, s, f, lossIn, lr, stepIn);
  b.output(lossSum, 'loss_sum');
  b.output(correct, 'correct');
  b.output(op.identity(b, condIn), 'cond_out');
  b.output(op.add(b, stepIn, b.constant(1)), 'step:next');
  const inOrder = ['iter', 'cond_in', ...carried.map((c) => c.name), 'step'];
  const outOrder = ['cond_out', ...carried.map((c) => names.next(c.name)), 'step:next', 'loss_sum', 'correct'];
  const sortBy = <T extends { name: string }>(arr: T[], order: string[]) => {
    const missing = arr.filter((v) => !order.includes(v.name));
    if (missing.length) throw new Error(`loop body has unexpected values: ${missing.map((m) => m.name)}`);
    arr.sort((p, q) => order.indexOf(p.name) - order.indexOf(q.name));
  };
  sortBy(b.inputs, inOrder);
  sortBy(b.outputs, outOrder);

  const outs = g.node('Loop', [trips, undefined, ...carriedIn, step0], [
    ...carried.map((c) => ({ shape: c.shape, dtype: ft, name: outer(names.next(c.name)) })),
    { shape: [], dtype: ft, name: outer('step:next') },
    { shape: ['K'], dtype: ft, name: outer('loss_sums') },
    { shape: ['K'], dtype: ft, name: outer('corrects') },
  ], { body: attr.graph(b.toGraphData()) });
  for (const t of outs) g.output(t);
  return g;
}
