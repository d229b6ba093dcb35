// Trains one coverage case on one device and records what it gave: losses, weights, running statistics, predictions, the exported model, and (when profiled) where onnxruntime ran each node.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer, buildModel, inferenceModelBytes, type DeviceRequest } from '../../shared/ml/index.ts';
import { createSession, resolveDevice } from '../../shared/ml/runtime.ts';
import { predictBatches } from '../../shared/ml/inference.ts';
import { CASES, coverageData } from './cases.ts';

/** Where a profiled case's nodes ran (see `placement`). */
export interface Placement { byProvider: Record<string, Record<string, number>>; cpuReadsData: string[]; toHost: number }

/** What one case gave on one device; the CPU's and a GPU's are compared field by field. */
export interface CaseResult {
  device: string;
  epochs: { loss: number; accuracy: number }[];
  weights: number[][];
  buffers: number[][];
  probs: number[];
  evaluate: { loss: number; accuracy: number };
  exportedProbs: number[];
  placement?: Placement;
  seconds: number;
}

interface ProfileNode { provider: string; op: string; inputs: string[] }

/**
 * What the profiles of a case's sessions say about placement: nodes run per provider by op type
 * (each node once), the CPU nodes that read anything but int64 (data a GPU must send back to the
 * host, and wait for: int64-only nodes are shape arithmetic, on the CPU by design), and how many
 * MemcpyToHost nodes onnxruntime put in to feed them.
 */
function placement(dir: string): Placement {
  const nodes = new Map<string, ProfileNode>();
  for (const f of readdirSync(dir)) {
    const events = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { cat?: string; name?: string; args?: Record<string, unknown> }[];
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
      const inputs = (e.args?.input_type_shape as object[] | undefined ?? []).flatMap((t) => Object.keys(t));
      nodes.set(`${f}/${e.name}`, { provider: String(e.args?.provider).replace(/ExecutionProvider$/, ''), op: String(e.args?.op_name), inputs });
    }
  }
  const byProvider: Record<string, Record<string, number>> = {};
  const cpuReadsData: string[] = [];
  let toHost = 0;
  for (const n of nodes.values()) {
    const p = (byProvider[n.provider] ??= {});
    p[n.op] = (p[n.op] ?? 0) + 1;
    if (n.provider === 'CPU' && n.inputs.some((t) => t !== 'int64')) cpuReadsData.push(`${n.op}(${n.inputs.join(', ')})`);
    if (n.op === 'MemcpyToHost') toHost++;
  }
  return { byProvider, cpuReadsData, toHost };
}

/**
 * Trains case `name` on `device` with fixed seeds (model 3, trainer 5, data 11), so that two
 * devices differ only in float rounding. With `profile`, its sessions record onnxruntime profiles
 * (FEDISTILL_ORT_PROFILE, set for this case only), read back into `placement`.
 */
export async function runCase(name: string, device: DeviceRequest, profile: boolean): Promise<CaseResult> {
  const c = CASES[name];
  if (!c) throw new Error(`unknown case ${name}; known: ${Object.keys(CASES).join(', ')}`);
  const t0 = Date.now();
  const profileDir = profile ? mkdtempSync(join(tmpdir(), `fedistill-coverage-${name}-`)) : undefined;
  if (profileDir) process.env.FEDISTILL_ORT_PROFILE = profileDir; else delete process.env.FEDISTILL_ORT_PROFILE;
  try {
    // 70 rows in batches of 24: three steps an epoch, the last on a partial batch (22 rows).
    const n = 70;
    const d = coverageData(c.spec, n);
    const t = new Trainer(buildModel(c.spec, { seed: 3 }), { optimizer: 'adam', lr: 1e-2, batchSize: 24, threads: 1, device, seed: 5, stepsPerRun: 1, ...c.options });
    const epochs = await t.fit({ features: d.features, labels: d.labels }, { epochs: c.fitEpochs });
    for (const run of c.distill ?? []) {
      const { perSampleT, ...options } = run;
      epochs.push(...await t.distill({
        ...options, features: d.features, softTargets: run.targetKind === 'probs' ? d.probs : d.logits,
        ...(perSampleT ? { temperatures: d.temperatures } : { temperature: 2 }), ...(run.alpha ? { hardLabels: d.labels } : {}),
      }, { epochs: 1 }));
    }
    const sample = d.features.subarray(0, 16 * (d.features.length / n));
    const predicted = await t.predict(sample);
    const evaluated = await t.evaluate({ features: d.features, labels: d.labels });
    // The exported student, in a fresh session on the same device.
    const exported = await createSession(inferenceModelBytes(t.model), await resolveDevice(device), 1);
    const fromExport = await predictBatches(exported, 'input', sample, c.spec.input);
    await exported.release();
    await t.release(); // writes the profiles
    return {
      device: await t.resolvedDevice(),
      epochs: epochs.map((e) => ({ loss: e.loss, accuracy: e.accuracy })),
      weights: t.getWeights().map((w) => Array.from(w)),
      buffers: t.model.buffers.map((b) => Array.from(b)),
      probs: Array.from(predicted.probs),
      evaluate: { loss: evaluated.loss, accuracy: evaluated.accuracy },
      exportedProbs: Array.from(fromExport.probs),
      ...(profileDir ? { placement: placement(profileDir) } : {}),
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  }
}
