// Child process for webgpu-coverage.test.ts: trains the coverage cases on one device and prints what each gave as JSON.
// Usage: node --import tsx device-coverage.ts <cpu|webgpu> <case,case,...>; one JSON object on the last line of stdout.
// With FEDISTILL_COVERAGE_PROFILE=1, each case's sessions record onnxruntime profiles, read back
// here into the nodes each execution provider ran, so the test can see what fell back to the CPU.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer, buildModel, inferenceModelBytes, type DeviceRequest } from '../../../shared/ml/index.ts';
import { createSession, resolveDevice } from '../../../shared/ml/runtime.ts';
import { predictBatches } from '../../../shared/ml/inference.ts';
import { CASES, coverageData } from './device-coverage-cases.ts';

interface ProfileNode { provider: string; op: string; inputs: string[] }

/**
 * What the profiles of a case's sessions say about placement: nodes run per provider by op type
 * (each node once), the CPU nodes that read anything but int64 (data a GPU must send back to the
 * host, and wait for: int64-only nodes are shape arithmetic, on the CPU by design), and how many
 * MemcpyToHost nodes onnxruntime put in to feed them.
 */
function placement(dir: string) {
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

async function runCase(name: string, device: DeviceRequest) {
  const c = CASES[name];
  if (!c) throw new Error(`unknown case ${name}; known: ${Object.keys(CASES).join(', ')}`);
  const profileDir = process.env.FEDISTILL_COVERAGE_PROFILE === '1' ? mkdtempSync(join(tmpdir(), `fedistill-coverage-${name}-`)) : undefined;
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
    };
  } finally {
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  }
}

const device = (process.argv[2] ?? 'cpu') as DeviceRequest;
const out: Record<string, unknown> = {};
for (const name of (process.argv[3] ?? Object.keys(CASES).join(',')).split(',')) {
  const t0 = Date.now();
  out[name] = { ...await runCase(name, device), seconds: (Date.now() - t0) / 1000 };
}
console.log(JSON.stringify(out));
