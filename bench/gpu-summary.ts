// Reads the files bench/gpu-check.sh wrote and prints the training engine's GPU bars in one table,
// then one JSON object: webgpu ms/step beside PyTorch CUDA and the hand-built ORT WebGPU reference,
// webgpu vs cpu accuracy (and each training run's accuracy and samples/s), the profile's top ops (what limits a step), and webgpu/cpu parity per coverage case.
// Usage: node --import tsx bench/gpu-summary.ts OUT_DIR   (gpu-check.sh runs it from dist/ at the end)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchArgs, exitWithUsageError } from './bench-args.ts';

const { positionals: [dir] } = benchArgs({
  name: 'gpu-summary',
  summary: `Summarises webgpu.json, torch.json, train-webgpu.json, train-cpu.json, webgpu-profile.json and (when present)
device-coverage.json from bench/gpu-check.sh: the GPU bars as a table, then one JSON object (webgpu vs PyTorch CUDA
ms/step, webgpu vs cpu accuracy, top profile ops, webgpu/cpu parity per coverage case).`,
  positionals: [{ name: 'OUT_DIR', help: 'the $OUT folder bench/gpu-check.sh wrote' }],
});
if (!existsSync(dir)) exitWithUsageError('gpu-summary', `no folder ${dir}; pass the OUT folder bench/gpu-check.sh wrote`);

type Json = Record<string, unknown>;
/** The last JSON object line of a file, or undefined when the file is missing or holds none. */
function lastJson(name: string): Json | undefined {
  const path = join(dir, name);
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'utf8').trim().split('\n').reverse();
  for (const line of lines) {
    try { const v = JSON.parse(line) as unknown; if (v && typeof v === 'object') return v as Json; } catch { /* not JSON */ }
  }
  return undefined;
}
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const msOf = (run: Json | undefined, key: string) => num((run?.[key] as Json | undefined)?.ms_per_step);

// The issue's bar (H200): at least as fast as a hand-built ORT WebGPU graph, 11.2 ms at batch 512
// and 26 ms at 8192 with one step per run; 8.1 ms at 512 with 8 steps per run.
const handBuilt = (key: string, stepsPerRun: number | undefined): number | undefined =>
  key.startsWith('mlp1024_b512') ? (stepsPerRun === 8 ? 8.1 : stepsPerRun === 1 ? 11.2 : undefined) : key.startsWith('mlp1024_b8192') ? 26 : undefined;
const webgpu = lastJson('webgpu.json');
const torch = lastJson('torch.json');
const rows = ['mlp1024_b512', 'mlp1024_b8192', 'cnn_b512', 'mlp1024_b512_k1', 'mlp1024_b8192_k1', 'cnn_b512_k1'].map((key) => {
  const run = webgpu?.[key] as Json | undefined;
  const ours = msOf(webgpu, key);
  const ref = msOf(torch, key.replace(/_k\d+$/, ''));
  const stepsPerRun = num(run?.steps_per_run);
  const hand = handBuilt(key, stepsPerRun);
  return {
    step: key, steps_per_run: stepsPerRun, webgpu_ms: ours, pytorch_cuda_ms: ref, hand_built_ms: hand,
    times_pytorch: ours !== undefined && ref ? ours / ref : undefined,
    at_least_as_fast_as_hand_built: ours !== undefined && hand !== undefined ? ours <= hand : undefined,
    error: run?.error,
  };
});
const tw = lastJson('train-webgpu.json'), tc = lastJson('train-cpu.json');
const accW = num(tw?.test_accuracy), accC = num(tc?.test_accuracy);
const accuracy = { webgpu: accW, cpu: accC, points_apart: accW !== undefined && accC !== undefined ? Math.abs(accW - accC) * 100 : undefined };
const profile = lastJson('webgpu-profile.json');
const limits = Object.fromEntries(['mlp1024_b512_k1', 'mlp1024_b8192_k1', 'cnn_b512_k1'].map((key) => {
  const p = profile?.[key] as Json | undefined;
  if (!p || p.error) return [key, p?.error ?? 'no profile'];
  const ops = (p.ops as { op: string; ms: number }[] | undefined) ?? [];
  return [key, { run_ms: p.run_ms, gpu_kernel_ms: p.kernel_ms_per_run, gpu_times: p.gpu_times, host_ms: p.host_ms_per_run, nodes: p.host_nodes_per_run, top_ops: ops.slice(0, 5).map((o) => `${o.op} ${o.ms}`) }];
}));

const f = (v: number | undefined, d = 2) => (v === undefined ? '—' : v.toFixed(d));
const gpuTxt = join(dir, 'gpu.txt');
console.log(`GPU: ${(existsSync(gpuTxt) && readFileSync(gpuTxt, 'utf8').trim()) || '(no nvidia-smi output)'}`);
console.log('step               K  webgpu ms  pytorch ms  ×pytorch  hand-built ms  bar');
for (const r of rows) {
  const bar = r.at_least_as_fast_as_hand_built === undefined ? '' : r.at_least_as_fast_as_hand_built ? 'met' : 'not yet';
  console.log(`${r.step.padEnd(18)} ${String(r.steps_per_run ?? '—').padStart(1)}  ${f(r.webgpu_ms).padStart(9)}  ${f(r.pytorch_cuda_ms).padStart(10)}  ${f(r.times_pytorch, 1).padStart(8)}  ${f(r.hand_built_ms, 1).padStart(13)}  ${bar}${r.error ? ` (${String(r.error)})` : ''}`);
}
console.log(`accuracy: webgpu ${f(accW !== undefined ? accW * 100 : undefined)}%, cpu ${f(accC !== undefined ? accC * 100 : undefined)}%, ${f(accuracy.points_apart)} points apart (bar: ≤ 0.3)`);
// The same mlp run with 8 steps per session.run, and the cnn for one epoch, on the GPU (when run).
const runs = Object.fromEntries(['train-webgpu', 'train-cpu', 'train-webgpu-k8', 'train-cnn-webgpu'].map((name) => {
  const r = lastJson(`${name}.json`);
  return [name, r && { test_accuracy: num(r.test_accuracy), samples_per_second: num(r.samples_per_second), steps_per_run: num(r.steps_per_run), epochs: num(r.epochs) }];
}));
for (const [name, r] of Object.entries(runs)) {
  if (r) console.log(`${name.padEnd(18)} ${f(r.test_accuracy !== undefined ? r.test_accuracy * 100 : undefined)}% after ${r.epochs} epochs, ${f(r.samples_per_second, 0)} samples/s, ${r.steps_per_run} steps per run`);
}
// Parity of every layer, loss and optimizer (bench/device-coverage.ts), when that step ran.
const coverage = lastJson('device-coverage.json');
const parity = coverage && Object.fromEntries(Object.entries((coverage.cases as Record<string, Json> | undefined) ?? {}).map(([name, c]) => {
  const d = (c.max_rel_diff as Record<string, number | null> | undefined) ?? {};
  const p = c.placement as { cpu_ops?: string[]; cpu_reads_gpu_data?: string[] } | undefined;
  return [name, { pass: c.pass, error: c.error, max_rel_diff: d, accuracies_equal: c.accuracies_equal, cpu_ops: p?.cpu_ops, cpu_reads_gpu_data: p?.cpu_reads_gpu_data, failures: c.failures }];
}));
if (parity) {
  const e = (v: number | null | undefined) => (typeof v === 'number' ? v.toExponential(1) : '—');
  console.log(`device coverage (webgpu vs cpu, bench/device-coverage.ts): ${coverage.pass === true ? 'pass' : 'FAIL'}`);
  console.log('case               losses   weights  buffers  predict  accuracy  CPU ops');
  for (const [name, c] of Object.entries(parity)) {
    if (c.error) { console.log(`${name.padEnd(18)} ${String(c.error).slice(0, 100)}`); continue; }
    const d = c.max_rel_diff;
    console.log(`${name.padEnd(18)} ${e(d.losses).padStart(7)}  ${e(d.weights).padStart(7)}  ${e(d.buffers).padStart(7)}  ${e(d.predictions).padStart(7)}  ${(c.accuracies_equal ? 'equal' : 'differ').padEnd(8)}  ${c.cpu_ops?.join(',') || '—'}${c.pass ? '' : '  FAIL'}`);
  }
} else {
  console.log('device coverage: no device-coverage.json (not run, or cut short)');
}
console.log(JSON.stringify({
  steps: rows, accuracy, runs, accuracy_bar_met: accuracy.points_apart === undefined ? undefined : accuracy.points_apart <= 0.3, limits,
  coverage: parity && { pass: coverage.pass, failed: coverage.failed, tolerances: coverage.tolerances, cases: parity },
}));
