// Reads an onnxruntime profile (FEDISTILL_ORT_PROFILE) into where a run's time goes: per op type,
// host time per provider and, on webgpu, each kernel's GPU time.
import { readFileSync } from 'node:fs';
import { FedistillError } from '../util/errors.ts';

interface ProfileEvent { cat?: string; name?: string; ts?: number; dur?: number; args?: Record<string, unknown> }

export interface OpTime { op: string; ms_per_run: number; kernels_per_run: number; share: number }

export interface ProfileSummary {
  /** Runs summarised. */
  runs: number;
  /** Median wall time of one `session.run`, as onnxruntime measures it. */
  run_ms: number;
  /** Host time per run spent in kernels, by execution provider (for a GPU provider: encoding and dispatch). */
  host_ms_per_run: Record<string, number>;
  /** Nodes run per run, by execution provider: on a GPU, what a run pays a dispatch for (views such as Reshape included). */
  host_nodes_per_run: Record<string, number>;
  /** Kernel time per run by op type: GPU time where the profile has it (webgpu), host time otherwise. */
  ops: OpTime[];
  /** The same per node (`name (OpType)`), slowest first, at most 12: which of an op type's nodes costs. */
  nodes: OpTime[];
  /** Sum of `ops` per run: with `run_ms`, how much of a run is kernels and how much is overhead. */
  kernel_ms_per_run: number;
  /** Whether `ops` are GPU timestamps (webgpu) rather than host times. */
  gpu_times: boolean;
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)]! : 0; };

/**
 * Summarises the last `lastRuns` runs of one profile (default all): leave out warm-up runs, whose
 * first kernels compile shaders. Times in the profile are
 * microseconds; webgpu's GPU kernel events are category "Api" named `<node>&<op>&…`, host kernel
 * events are category "Node" named `<node>_kernel_time` with the provider and op in their args.
 */
export function summarizeProfile(events: readonly ProfileEvent[], lastRuns?: number): ProfileSummary {
  if (!Array.isArray(events)) throw new FedistillError('E_INVALID_PARAMETER', 'an onnxruntime profile is a JSON array of events');
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts! - b.ts!);
  if (runs.length === 0) throw new FedistillError('E_INVALID_PARAMETER', 'the profile holds no session runs');
  const kept = runs.slice(-Math.max(1, Math.min(lastRuns ?? runs.length, runs.length)));
  const from = kept[0]!.ts!;
  const n = kept.length;
  // Host events are on the profiler's clock: those from the first kept run on. GPU events are not
  // (onnxruntime-node 1.30's webgpu timestamps restart from 0 at later runs), so the same share
  // of them is taken from the end, in the order they were written: a step graph's runs dispatch
  // the same kernels.
  const api = events.filter((e) => e.cat === 'Api' && e.name?.includes('&'));
  const after = [...events.filter((e) => e.cat !== 'Api' && (e.ts ?? -1) >= from), ...api.slice(api.length - Math.round((api.length * n) / runs.length))];
  const host: Record<string, number> = {};
  const hostNodes: Record<string, number> = {};
  const hostOps = new Map<string, { us: number; count: number }>();
  const gpuOps = new Map<string, { us: number; count: number }>();
  const hostNodeTimes = new Map<string, { us: number; count: number }>();
  const gpuNodes = new Map<string, { us: number; count: number }>();
  const add = (m: Map<string, { us: number; count: number }>, op: string, us: number) => {
    const x = m.get(op) ?? { us: 0, count: 0 };
    x.us += us; x.count += 1; m.set(op, x);
  };
  for (const e of after) {
    if (e.cat === 'Node' && e.name?.endsWith('_kernel_time')) {
      const provider = String(e.args?.provider ?? 'unknown').replace(/ExecutionProvider$/, '');
      host[provider] = (host[provider] ?? 0) + e.dur! / 1000 / n;
      hostNodes[provider] = (hostNodes[provider] ?? 0) + 1 / n;
      add(hostOps, String(e.args?.op_name ?? 'unknown'), e.dur!);
      add(hostNodeTimes, `${e.name.slice(0, -'_kernel_time'.length)} (${String(e.args?.op_name ?? 'unknown')})`, e.dur!);
    } else if (e.cat === 'Api') {
      const [node, op] = e.name!.split('&');
      add(gpuOps, op!, e.dur!);
      add(gpuNodes, `${node} (${op})`, e.dur!);
    }
  }
  const gpu = gpuOps.size > 0;
  const source = gpu ? gpuOps : hostOps;
  const total = [...source.values()].reduce((s, x) => s + x.us, 0);
  const times = (m: Map<string, { us: number; count: number }>) => [...m.entries()]
    .map(([op, x]) => ({ op, ms_per_run: x.us / 1000 / n, kernels_per_run: x.count / n, share: total > 0 ? x.us / total : 0 }))
    .sort((a, b) => b.ms_per_run - a.ms_per_run);
  const ops = times(source);
  const nodes = times(gpu ? gpuNodes : hostNodeTimes).slice(0, 12);
  return { runs: n, run_ms: median(kept.map((r) => r.dur! / 1000)), host_ms_per_run: host, host_nodes_per_run: hostNodes, ops, nodes, kernel_ms_per_run: total / 1000 / n, gpu_times: gpu };
}

/** Reads and summarises a profile file. */
export function summarizeProfileFile(path: string, lastRuns?: number): ProfileSummary {
  let events: ProfileEvent[];
  try { events = JSON.parse(readFileSync(path, 'utf8')) as ProfileEvent[]; } catch (e) {
    throw new FedistillError('E_INVALID_PARAMETER', `cannot read the onnxruntime profile ${path}: ${(e as Error).message}`);
  }
  return summarizeProfile(events, lastRuns);
}
