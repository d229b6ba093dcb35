// One coverage case on a GPU against the same case on the CPU: the largest relative differences, equal accuracies, CPU-fallback placement, and whether each is within the parity bars.
import type { CaseResult } from './run-case.ts';

/**
 * The bars, as webgpu-coverage.test.ts asserts them: the devices differ only in float rounding, so
 * losses agree to 1e-4 and weights, running statistics and predictions to 1e-3 (relative, below);
 * the exported model on the GPU gives its own `predict` to 1e-5.
 */
export const TOLERANCES = { losses: 1e-4, weights: 1e-3, buffers: 1e-3, predictions: 1e-3, exported: 1e-3, exportedVsPredict: 1e-5 } as const;

/** How `maxRelDiff` measures a difference: relative for large values, absolute near zero. */
export const RELATIVE_DIFFERENCE = '|gpu - cpu| / (1 + |cpu|), the largest over the values compared';

type Measure = keyof typeof TOLERANCES;

export interface CaseComparison {
  pass: boolean;
  /** Largest relative difference per measure; null where the shapes differ (a failure). */
  maxRelDiff: Record<Measure, number | null>;
  /** Epoch accuracies and `evaluate` accuracy identical on both devices (counts of right answers). */
  accuraciesEqual: boolean;
  /** From the GPU run's onnxruntime profiles; absent when it was not profiled. */
  placement?: { cpuReadsGpuData: string[]; memcpyToHost: number; cpuOps: string[]; gpuKernels: number };
  seconds: { cpu: number; gpu: number };
  /** Each bar missed, in words; empty when `pass`. */
  failures: string[];
}

/** Largest |a − b| / (1 + |b|) over paired values, or null when the lists have different lengths. */
export function maxRelDiff(a: readonly number[], b: readonly number[]): number | null {
  if (a.length !== b.length) return null;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return Number.isNaN(worst) ? null : worst;
}

/** `maxRelDiff` over lists of arrays (weights, buffers): the worst array's, null if any pair differs in shape. */
function maxRelDiffAll(a: readonly number[][], b: readonly number[][]): number | null {
  if (a.length !== b.length) return null;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = maxRelDiff(a[i]!, b[i]!);
    if (d === null) return null;
    worst = Math.max(worst, d);
  }
  return worst;
}

/**
 * Compares a case's GPU run with its CPU run against `TOLERANCES`, and, when the GPU run was
 * profiled, checks that no CPU node read GPU data, no MemcpyToHost was left, and the GPU
 * provider's own kernels ran (`gpuProvider`, as the profile names it: WebGpu).
 */
export function compareCase(cpu: CaseResult, gpu: CaseResult, gpuDevice: string, gpuProvider = 'WebGpu'): CaseComparison {
  const maxRel: Record<Measure, number | null> = {
    losses: maxRelDiff([...gpu.epochs.map((e) => e.loss), gpu.evaluate.loss], [...cpu.epochs.map((e) => e.loss), cpu.evaluate.loss]),
    weights: maxRelDiffAll(gpu.weights, cpu.weights),
    buffers: maxRelDiffAll(gpu.buffers, cpu.buffers),
    predictions: maxRelDiff(gpu.probs, cpu.probs),
    exported: maxRelDiff(gpu.exportedProbs, cpu.exportedProbs),
    exportedVsPredict: maxRelDiff(gpu.exportedProbs, gpu.probs),
  };
  const failures: string[] = [];
  if (cpu.device !== 'cpu') failures.push(`the CPU run ran on ${cpu.device}`);
  if (gpu.device !== gpuDevice) failures.push(`the ${gpuDevice} run ran on ${gpu.device}`);
  for (const [m, d] of Object.entries(maxRel) as [Measure, number | null][]) {
    if (d === null) failures.push(`${m}: shapes or values differ (NaN or another length)`);
    else if (d > TOLERANCES[m]) failures.push(`${m}: ${d.toExponential(2)} > ${TOLERANCES[m]}`);
  }
  const accuracies = (r: CaseResult) => [...r.epochs.map((e) => e.accuracy), r.evaluate.accuracy];
  const accuraciesEqual = JSON.stringify(accuracies(gpu)) === JSON.stringify(accuracies(cpu));
  if (!accuraciesEqual) failures.push(`accuracies differ: ${accuracies(gpu).join(', ')} vs ${accuracies(cpu).join(', ')}`);
  let placement: CaseComparison['placement'];
  if (gpu.placement) {
    const p = gpu.placement;
    const mine = p.byProvider[gpuProvider] ?? {};
    placement = {
      cpuReadsGpuData: p.cpuReadsData, memcpyToHost: p.toHost,
      cpuOps: Object.keys(p.byProvider.CPU ?? {}).sort(),
      gpuKernels: Object.values(mine).reduce((a, b) => a + b, 0),
    };
    // A CPU node on GPU data copies it back and waits in the middle of every step.
    if (p.cpuReadsData.length) failures.push(`CPU nodes read GPU data: ${p.cpuReadsData.join(', ')}`);
    if (p.toHost) failures.push(`${p.toHost} MemcpyToHost node(s)`);
    if ((mine.Gemm ?? 0) + (mine.Conv ?? 0) === 0) failures.push(`the profile shows no ${gpuProvider} Gemm or Conv kernels`);
  }
  return { pass: failures.length === 0, maxRelDiff: maxRel, accuraciesEqual, ...(placement ? { placement } : {}), seconds: { cpu: cpu.seconds, gpu: gpu.seconds }, failures };
}
