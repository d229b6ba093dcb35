// onnxruntime's profiler through FEDISTILL_ORT_PROFILE, Trainer.release, summarizeProfile, and the CPU's default steps per run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRng } from '../../../shared/util/prng.ts';
import { Trainer, buildModel, type ModelSpec } from '../../../shared/ml/index.ts';
import { DEFAULT_STEPS_PER_RUN } from '../../../shared/ml/trainer.ts';
import { summarizeProfile, summarizeProfileFile } from '../../../shared/ml/profile-summary.ts';

const spec: ModelSpec = { input: [8], classes: 3, layers: [{ type: 'dense', units: 16 }, { type: 'relu' }, { type: 'dense', units: 3 }] };

function data(n: number, seed: number) {
  const rng = new SeededRng(seed);
  return { features: Float32Array.from({ length: n * 8 }, () => rng.normal()), labels: Uint8Array.from({ length: n }, () => rng.int(3)) };
}

test('FEDISTILL_ORT_PROFILE: released sessions write profiles; the step profile summarises per op, over the last runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-profile-'));
  process.env.FEDISTILL_ORT_PROFILE = join(dir, 'nested');
  try {
    const t = new Trainer(buildModel(spec, { seed: 1 }), { optimizer: 'sgd', batchSize: 16, threads: 1, stepsPerRun: 1 });
    await t.fit(data(64, 2), { epochs: 2 }); // 2 × 4 single steps
    const before = t.getWeights();
    await t.release();
    const files = readdirSync(join(dir, 'nested'));
    assert.ok(files.length >= 1 && files.every((f) => /^ort_.*\.json$/.test(f)), files.join(','));
    const runs = (f: string) => (JSON.parse(readFileSync(join(dir, 'nested', f), 'utf8')) as { name?: string }[]).filter((e) => e.name === 'model_run').length;
    const step = files.sort((a, b) => runs(b) - runs(a))[0]!;
    assert.equal(runs(step), 8);
    const all = summarizeProfileFile(join(dir, 'nested', step));
    const last = summarizeProfileFile(join(dir, 'nested', step), 3);
    assert.equal(all.runs, 8);
    assert.equal(last.runs, 3);
    assert.equal(all.gpu_times, false);
    assert.ok(all.host_ms_per_run.CPU! > 0);
    // Every node of the step graph runs once per step on the CPU provider.
    assert.ok(Number.isInteger(all.host_nodes_per_run.CPU) && all.host_nodes_per_run.CPU! >= 20, JSON.stringify(all.host_nodes_per_run));
    // The step graph's matrix products and update arithmetic are there, with shares that sum to 1.
    const ops = new Set(all.ops.map((o) => o.op));
    for (const op of ['Sub', 'Greater']) assert.ok(ops.has(op), [...ops].join(','));
    assert.ok(ops.has('Gemm') || ops.has('FusedGemm'), [...ops].join(','));
    assert.ok(Math.abs(all.ops.reduce((s, o) => s + o.share, 0) - 1) < 1e-9);
    assert.ok(Math.abs(all.kernel_ms_per_run - all.ops.reduce((s, o) => s + o.ms_per_run, 0)) < 1e-9);
    assert.ok(all.kernel_ms_per_run > 0 && all.run_ms > 0);
    // The trainer stays usable after release: same weights, and training goes on.
    t.getWeights().forEach((w, i) => assert.deepEqual(w, before[i]));
    await t.fit(data(64, 2), { epochs: 1 });
    assert.equal(t.step, 12);
  } finally {
    delete process.env.FEDISTILL_ORT_PROFILE;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('summarizeProfile: GPU kernel events ("Api") take precedence over host times; a profile without runs is refused', () => {
  const events = [
    { cat: 'Session', name: 'model_run', ts: 0, dur: 5000 },
    { cat: 'Node', name: 'n1_Gemm_kernel_time', ts: 10, dur: 900, args: { provider: 'WebGpuExecutionProvider', op_name: 'Gemm' } },
    { cat: 'Api', name: 'n1_Gemm&Gemm&Gemm', ts: 20, dur: 3000 },
    { cat: 'Session', name: 'model_run', ts: 6000, dur: 7000 },
    { cat: 'Node', name: 'n1_Gemm_kernel_time', ts: 6010, dur: 1100, args: { provider: 'WebGpuExecutionProvider', op_name: 'Gemm' } },
    { cat: 'Node', name: 'n2_Shape_kernel_time', ts: 6020, dur: 100, args: { provider: 'CPUExecutionProvider', op_name: 'Shape' } },
    // GPU timestamps restart from 0 at a later run (as onnxruntime-node 1.30's webgpu profiles do).
    { cat: 'Api', name: 'n1_Gemm&Gemm&Gemm', ts: 30, dur: 5000 },
    { cat: 'Api', name: 'n3_Relu&Relu&Relu', ts: 40, dur: 1000 },
  ];
  const s = summarizeProfile(events);
  assert.equal(s.runs, 2);
  assert.equal(s.gpu_times, true);
  assert.deepEqual(s.ops.map((o) => [o.op, o.ms_per_run, o.kernels_per_run]), [['Gemm', 4, 1], ['Relu', 0.5, 0.5]]);
  assert.deepEqual(s.host_ms_per_run, { WebGpu: 1, CPU: 0.05 });
  assert.deepEqual(s.host_nodes_per_run, { WebGpu: 1, CPU: 0.5 });
  assert.equal(s.kernel_ms_per_run, 4.5);
  assert.deepEqual(s.nodes.map((o) => [o.op, o.ms_per_run]), [['n1_Gemm (Gemm)', 4], ['n3_Relu (Relu)', 0.5]]);
  // Without GPU events, nodes are host times by node name.
  const hostOnly = summarizeProfile(events.filter((e) => e.cat !== 'Api'));
  assert.deepEqual(hostOnly.nodes.map((o) => [o.op, o.ms_per_run]), [['n1_Gemm (Gemm)', 1], ['n2_Shape (Shape)', 0.05]]);
  const last = summarizeProfile(events, 1); // only the second run: host events from its start, the last GPU events
  assert.deepEqual(last.ops.map((o) => [o.op, o.ms_per_run]), [['Gemm', 5], ['Relu', 1]]);
  assert.equal(last.run_ms, 7);
  assert.throws(() => summarizeProfile([{ cat: 'Session', name: 'session_initialization', ts: 0, dur: 1 }]), { code: 'E_INVALID_PARAMETER', message: /no session runs/ });
  assert.throws(() => summarizeProfile({} as never), { code: 'E_INVALID_PARAMETER' });
});

test('steps per run: 8 by default, as given otherwise, and a bad value fails before training', async () => {
  assert.equal(DEFAULT_STEPS_PER_RUN, 8);
  assert.equal(await new Trainer(buildModel(spec), { threads: 1 }).stepsPerRun(), 8);
  assert.equal(await new Trainer(buildModel(spec), { threads: 1, stepsPerRun: 3 }).stepsPerRun(), 3);
  const bad = new Trainer(buildModel(spec), { threads: 1, stepsPerRun: 0 });
  await assert.rejects(bad.fit(data(32, 1), { epochs: 1 }), { code: 'E_INVALID_PARAMETER', message: /stepsPerRun/ });
  assert.equal(bad.step, 0);
});
