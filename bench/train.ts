// Benchmark: training-step throughput for mlp and cnn on CPU at batch 128, as a fraction of one large MatMul's GFLOP/s.
// Usage: node --import tsx bench/train.ts [--steps N] [--rounds R] [--batch B] [--threads T] [--optimizer sgd|adam] [--device cpu|webgpu|cuda|auto]
//        [--steps-per-run K] [--gpu-set]   (--gpu-set: ms/step for a 784-1024-10 MLP at batch 512 and 8192 and the cnn at 512, K steps and 1 per run)
//        [--profile]   (instead of timing: where a step's time goes, per op, from onnxruntime's profiler)
import { performance } from 'node:perf_hooks';
import { availableParallelism } from 'node:os';
import { GraphBuilder } from '../shared/ml/graph.ts';
import * as op from '../shared/ml/ops.ts';
import { Trainer, buildModel, type Model, type ModelSpec, type DeviceRequest } from '../shared/ml/index.ts';
import { createSession, ort, resolveDevice } from '../shared/ml/runtime.ts';
import { SeededRng } from '../shared/util/prng.ts';
import { summarizeProfile } from '../shared/ml/profile-summary.ts';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from './bench-args.ts';

const { values: args } = benchArgs({
  name: 'train',
  summary: `Training-step throughput on CPU at batch 128 (mlp and cnn), as a ratio to one 1024³ MatMul's GFLOP/s
through the same onnxruntime; prints progress to stderr and one JSON object to stdout.`,
  options: {
    steps: { kind: 'integer', arg: 'N', default: 100, help: 'steps per model, spread over the rounds' },
    rounds: { kind: 'integer', arg: 'R', default: 5, help: 'alternating ceiling/model chunks; the median ratio is reported' },
    batch: { kind: 'integer', arg: 'B', default: 128, help: 'batch size' },
    threads: { kind: 'integer', arg: 'T', defaultHelp: 'all cores', help: 'CPU threads' },
    optimizer: { kind: 'string', choices: ['sgd', 'adam'], default: 'sgd', defaultHelp: 'sgd, momentum 0.9', help: 'optimizer' },
    device: { kind: 'string', choices: ['cpu', 'webgpu', 'cuda', 'auto'], default: 'cpu', help: 'execution provider' },
    'steps-per-run': { kind: 'integer', arg: 'K', defaultHelp: "the trainer's, 8", help: 'K steps per session.run, an ONNX Loop on the CPU, unrolled on a GPU' },
    'gpu-set': { kind: 'boolean', help: "instead: ms/step of a 784-1024-10 MLP at batch 512 and 8192 and the cnn at 512, with the\ntrainer's steps per run (or --steps-per-run) and with one step per run (the *_k1 entries)" },
    repeats: { kind: 'integer', arg: 'R', default: 3, help: 'with --gpu-set: timed fit pairs per step, the median reported' },
    profile: { kind: 'boolean', help: "instead of timing, profile the models (mlp and cnn, or with --gpu-set its single-step\nmodels) with onnxruntime's profiler: per op type, kernel ms per step (GPU timestamps on\nwebgpu) beside the step's wall time, so what limits a step shows" },
  },
  notes: ['Environment: FEDISTILL_WEBGPU_OPTIONS="validationMode=disabled,preferredLayout=NCHW" sets WebGPU provider options.'],
});
const steps = args.steps;
const batch = args.batch;
const threads = args.threads ?? availableParallelism();
const optimizer = args.optimizer;
const device: DeviceRequest = args.device;
const stepsPerRun = args['steps-per-run'];
const repeats = args.repeats;

/**
 * One n×n×n MatMul through the same onnxruntime: the practical ceiling. Returns a timer that runs
 * `reps` products and gives their GFLOP/s, so it can be sampled between model chunks.
 */
async function matmulCeiling(n: number): Promise<(reps: number) => Promise<number>> {
  const g = new GraphBuilder('mm');
  g.output(op.matmul(g, g.input('a', [n, n]), g.input('b', [n, n])), 'c');
  const s = await createSession(g.toModel(), await resolveDevice(device), threads);
  const a = new ort.Tensor('float32', new Float32Array(n * n).fill(0.5), [n, n]);
  for (let i = 0; i < 2; i++) await s.run({ a, b: a });
  return async (reps) => {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await s.run({ a, b: a });
    return (2 * n ** 3 * reps) / ((performance.now() - t0) / 1000) / 1e9;
  };
}

/** Matmul/conv FLOPs of one training step (forward, weight grads, input grads except for the first layer). */
function stepFlops(m: Model, b: number): number {
  let flops = 0, shape = [...m.layout.spec.input], first = true;
  for (const l of m.layout.spec.layers) {
    if (l.type === 'dense') {
      const f = 2 * b * shape[0]! * l.units;
      flops += f * (first ? 2 : 3); first = false; shape = [l.units];
    } else if (l.type === 'conv2d') {
      const oh = shape[1]! - l.kernel + 1, ow = shape[2]! - l.kernel + 1;
      const f = 2 * b * l.filters * oh * ow * shape[0]! * l.kernel * l.kernel;
      flops += f * (first ? 2 : 3); first = false; shape = [l.filters, oh, ow];
    } else if (l.type === 'maxpool2d') shape = [shape[0]!, Math.floor(shape[1]! / l.size), Math.floor(shape[2]! / l.size)];
    else if (l.type === 'flatten') shape = [shape.reduce((x, y) => x * y, 1)];
  }
  return flops;
}

type Timer = ((steps: number) => Promise<Record<string, number>>) & { trainer: Trainer };

/** A warmed-up trainer on random data; each call of the returned timer trains `steps` more steps and reports them. */
async function modelTimer(name: 'mlp' | 'cnn' | ModelSpec, batch: number, k: number | undefined = stepsPerRun): Promise<Timer> {
  const model = buildModel(name, { seed: 1 });
  const t = new Trainer(model, { optimizer, batchSize: batch, threads, device, stepsPerRun: k });
  const K = await t.stepsPerRun();
  // A fit covers whole K-step runs of a pool of batches, so the timed steps are the trainer's default path.
  const pool = Math.max(16, K);
  const rng = new SeededRng(1);
  const features = Float32Array.from({ length: pool * batch * 784 }, () => rng.next());
  const labels = Uint8Array.from({ length: pool * batch }, () => rng.int(10));
  const slice = (steps: number) => {
    const n = Math.min(Math.ceil(steps / K) * K, pool) * batch;
    return { features: features.subarray(0, n * 784), labels: labels.subarray(0, n) };
  };
  await t.fit(slice(Math.max(3, 2 * K)), { epochs: 1 }); // warm-up: session creation and first runs
  const flop = stepFlops(model, batch);
  return Object.assign(async (steps: number) => {
    const data = slice(steps);
    const perEpoch = data.labels.length / batch;
    const epochs = Math.ceil(steps / perEpoch);
    const done = epochs * perEpoch;
    const t0 = performance.now();
    await t.fit(data, { epochs, shuffle: false });
    const sec = (performance.now() - t0) / 1000;
    return { steps: done, steps_per_run: K, samples_per_second: (done * batch) / sec, ms_per_step: (sec * 1000) / done, step_gflop: flop / 1e9, gflops: (flop * done) / sec / 1e9 };
  }, { trainer: t });
}

/**
 * Where a step's time goes: trains `steps` steps with onnxruntime's profiler on, then summarises
 * the step session's profile (the one with the most runs) over the timed steps only. Wall times
 * here include the profiler's own cost; compare them with the plain figures, not across runs.
 */
async function profileModel(name: 'mlp' | 'cnn' | ModelSpec, batch: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-profile-'));
  process.env.FEDISTILL_ORT_PROFILE = dir;
  try {
    const timer = await modelTimer(name, batch, 1);
    const run = await timer(steps);
    await timer.trainer.release();
    const profiles = readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { cat?: string; name?: string }[]);
    const runsOf = (p: { cat?: string; name?: string }[]) => p.filter((e) => e.cat === 'Session' && e.name === 'model_run').length;
    const step = profiles.sort((a, b) => runsOf(b) - runsOf(a))[0]!;
    const s = summarizeProfile(step, run.steps);
    const r = (x: number) => +x.toFixed(3);
    return {
      ms_per_step_profiled: r(run.ms_per_step!), run_ms: r(s.run_ms), kernel_ms_per_run: r(s.kernel_ms_per_run), gpu_times: s.gpu_times, runs: s.runs,
      host_ms_per_run: Object.fromEntries(Object.entries(s.host_ms_per_run).map(([k, v]) => [k, r(v)])), host_nodes_per_run: s.host_nodes_per_run,
      ops: s.ops.slice(0, 12).map((o) => ({ op: o.op, ms: r(o.ms_per_run), kernels: r(o.kernels_per_run), share: r(o.share) })),
      nodes: s.nodes.slice(0, 8).map((o) => ({ node: o.op, ms: r(o.ms_per_run), share: r(o.share) })),
    };
  } finally {
    delete process.env.FEDISTILL_ORT_PROFILE;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchModel(name: 'mlp' | 'cnn' | ModelSpec, batch: number): Promise<Record<string, number>> {
  return (await modelTimer(name, batch))(steps);
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

/**
 * Steady-state ms/step on a GPU, as PyTorch's reference measures it (data on the device, one
 * synchronisation at the end): fits of `steps` and `2·steps` steps on the same data pool, whose
 * difference cancels what a fit costs once (uploading the pool, the last readback, downloading
 * the weights). The median of `repeats` such differences is reported (each one is in
 * `ms_per_step_repeats`; on an H200 single differences of one step differed up to 2× between
 * processes), with the median single fit's figure beside it.
 */
async function gpuStepTime(name: 'mlp' | 'cnn' | ModelSpec, batch: number, k: number | undefined = stepsPerRun): Promise<Record<string, number | number[]>> {
  const timer = await modelTimer(name, batch, k);
  // One untimed fit of the timed fits' pool first: the first fit of a new pool size pays one-off
  // costs (its upload path, shaders for its shapes) that the difference below would not cancel.
  await timer(steps);
  const diffs: number[] = [], singles: number[] = [];
  let first: Record<string, number> | undefined;
  for (let r = 0; r < repeats; r++) {
    const one = await timer(steps);
    const two = await timer(2 * steps);
    first ??= one;
    // Fits cover whole passes over a pool of max(16, K) batches: fewer steps than that time the same fit twice.
    if (two.steps! <= one.steps!) throw new Error(`--steps ${steps} is too few to time ${one.steps_per_run} steps per run: give at least ${Math.max(16, one.steps_per_run!)}`);
    diffs.push((two.ms_per_step! * two.steps! - one.ms_per_step! * one.steps!) / (two.steps! - one.steps!));
    singles.push(one.ms_per_step!);
  }
  const ms = median(diffs);
  return {
    steps_per_run: first!.steps_per_run!, ms_per_step: ms, ms_per_step_repeats: diffs, ms_per_step_single_fit: median(singles),
    samples_per_second: (batch * 1000) / ms, step_gflop: first!.step_gflop!, gflops: first!.step_gflop! / (ms / 1000),
  };
}

const resolved = await resolveDevice(device);
if (args['gpu-set']) {
  const wide: ModelSpec = { input: [1, 28, 28], classes: 10, layers: [{ type: 'flatten' }, { type: 'dense', units: 1024 }, { type: 'relu' }, { type: 'dense', units: 10 }] };
  const r: Record<string, unknown> = {};
  // First with the trainer's steps per session.run (8, unrolled in one graph on a GPU with the data
  // resident; an ONNX Loop elsewhere), then with one step per run (the 11.2 → 8.1 ms reference).
  const set: [string, ModelSpec | 'cnn', number, number | undefined][] = [['mlp1024_b512', wide, 512, stepsPerRun], ['mlp1024_b8192', wide, 8192, stepsPerRun], ['cnn_b512', 'cnn', 512, stepsPerRun], ['mlp1024_b512_k1', wide, 512, 1], ['mlp1024_b8192_k1', wide, 8192, 1], ['cnn_b512_k1', 'cnn', 512, 1]];
  if (args.profile) {
    // Single steps: every node of a step is its own profile event.
    for (const [name, spec, b] of set.filter((x) => x[0].endsWith('_k1'))) {
      try { r[name] = await profileModel(spec, b); } catch (e) { r[name] = { error: String((e as Error).message).split('\n')[0] }; }
      console.error(JSON.stringify({ [name]: r[name] }));
    }
    console.log(JSON.stringify({ device: resolved, profile: true, webgpu_options: process.env.FEDISTILL_WEBGPU_OPTIONS ?? '', threads, steps, optimizer, ...r }));
    process.exit(0);
  }
  for (const [name, spec, b, k] of set) {
    // One failing model (an op the provider lacks) must not hide the others' figures.
    try { r[name] = await gpuStepTime(spec, b, k); } catch (e) { r[name] = { error: String((e as Error).message).split('\n')[0] }; }
    console.error(JSON.stringify({ [name]: r[name] }));
  }
  console.log(JSON.stringify({ device: resolved, webgpu_options: process.env.FEDISTILL_WEBGPU_OPTIONS ?? '', threads, steps, optimizer, ...r }));
  process.exit(0);
}
if (args.profile) {
  const r: Record<string, unknown> = {};
  for (const name of ['mlp', 'cnn'] as const) {
    r[name] = await profileModel(name, batch);
    console.error(JSON.stringify({ [name]: r[name] }));
  }
  console.log(JSON.stringify({ device: resolved, profile: true, threads, batch, steps, optimizer, ...r }));
  process.exit(0);
}
// The machine is shared and its speed drifts: the ceiling and each model are timed in alternating
// chunks, each chunk's GFLOP/s is divided by the ceiling measured right before it, and the
// median of those ratios is reported (with every chunk's figures, so the spread is visible).
const rounds = args.rounds;
const ceilingTimer = await matmulCeiling(1024);
const timers = { mlp: await modelTimer('mlp', batch), cnn: await modelTimer('cnn', batch) };
const chunkSteps = Math.max(1, Math.round(steps / rounds));
const samples: Record<'mlp' | 'cnn', { ceiling: number; run: Record<string, number> }[]> = { mlp: [], cnn: [] };
for (let r = 0; r < rounds; r++) {
  for (const name of ['mlp', 'cnn'] as const) {
    const ceiling = await ceilingTimer(4);
    const run = await timers[name](name === 'cnn' ? Math.max(1, Math.round(chunkSteps / 4)) : chunkSteps);
    samples[name].push({ ceiling, run });
    console.error(JSON.stringify({ round: r + 1, model: name, ceiling_gflops: +ceiling.toFixed(1), gflops: +run.gflops!.toFixed(1), ratio: +(run.gflops! / ceiling).toFixed(3) }));
  }
}
const summary = (name: 'mlp' | 'cnn') => {
  const s = samples[name];
  const pick = (k: string) => median(s.map((x) => x.run[k]!));
  return {
    steps_per_run: s[0]!.run.steps_per_run, samples_per_second: pick('samples_per_second'), ms_per_step: pick('ms_per_step'), step_gflop: s[0]!.run.step_gflop, gflops: pick('gflops'),
    ratio_to_matmul: median(s.map((x) => x.run.gflops! / x.ceiling)),
    ratios: s.map((x) => +(x.run.gflops! / x.ceiling).toFixed(3)),
  };
};
console.log(JSON.stringify({
  device: resolved, threads, batch, steps_per_chunk: chunkSteps, rounds, optimizer,
  matmul_ceiling_gflops: median([...samples.mlp, ...samples.cnn].map((x) => x.ceiling)),
  mlp: summary('mlp'),
  cnn: summary('cnn'),
}));
