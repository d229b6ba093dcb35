// Every layer, loss and optimizer trains on webgpu as on the CPU, and no node of their graphs falls back to the CPU on GPU data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { swiftShaderEnv } from './swiftshader.ts';
import { buildModel } from '../../../shared/ml/model.ts';
import { layoutOf } from '../../../shared/ml/layers.ts';
import type { LossConfig } from '../../../shared/ml/losses.ts';
import type { OptimizerConfig } from '../../../shared/ml/optimizers.ts';
import type { GraphBuilder } from '../../../shared/ml/graph.ts';
import { buildInferenceGraph, buildStepGraph } from '../../../shared/ml/train-graph.ts';
import { gradCheck } from '../../unit/ml/gradcheck.ts';
import { CASES, type CoverageCase } from '../../../bench/device-coverage/cases.ts';
import type { CaseResult } from '../../../bench/device-coverage/run-case.ts';
import { camelCaseKeys } from '../../../bench/json-keys.ts';

const run = promisify(execFile);

/** Trains cases on one device in one process: bench/device-coverage.ts in its one-device mode (snake_case keys, read back as CaseResult; case, provider and op names kept). */
async function train(device: string, cases: string[], env: NodeJS.ProcessEnv): Promise<Record<string, CaseResult>> {
  const bench = new URL('../../../bench/device-coverage.ts', import.meta.url).pathname;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', bench, '--device', device, '--cases', cases.join(',')], { env, maxBuffer: 1 << 24, timeout: 240_000 });
  return camelCaseKeys(JSON.parse(stdout.trim().split('\n').at(-1)!), ['', '*.placement.by_provider', '*.placement.by_provider.*']) as Record<string, CaseResult>;
}

function assertClose(a: readonly number[], b: readonly number[], tol: number, what: string) {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** The losses a case trains with, as the step graph sees them (the trainer's defaults filled in). */
function lossesOf(c: CoverageCase): LossConfig[] {
  return [{ kind: 'ce' }, ...(c.distill ?? []).map((d): LossConfig => ({
    kind: 'distill', soft: d.softLoss ?? 'kl', targets: d.targetKind ?? (d.softLoss === 'kl' ? 'probs' : 'logits'), hardWeight: d.alpha ?? 0,
  }))];
}

/**
 * Nodes that onnxruntime-node 1.30's WebGPU provider cannot run on GPU data, as its profiles
 * showed: no kernel (Size, Sign, LogSoftmax), int64 kernels kept on the CPU (ArgMax, Unsqueeze of
 * computed ids), ConstantOfShape of a runtime shape, MaxPool's Indices output (a run-time error),
 * and a grouped ConvTranspose with several input channels per group (wrong values for 4 per group).
 */
function webgpuProblems(g: GraphBuilder): string[] {
  const constant = new Set(g.initializers.map((i) => i.name));
  return g.nodes.flatMap((n) => {
    const group = n.attrs.group?.kind === 'int' ? n.attrs.group.value : 1;
    const problem = ['Size', 'Sign', 'LogSoftmax', 'ArgMax'].includes(n.op)
      || (n.op === 'Unsqueeze' && n.outputs[0]!.dtype === 'int64')
      || (n.op === 'ConstantOfShape' && !constant.has(n.inputs[0]!.name))
      || (n.op === 'MaxPool' && n.outputs.length > 1)
      || (n.op === 'ConvTranspose' && group > 1 && (n.inputs[0]!.shape[1] as number) !== group);
    return problem ? [`${n.op} → ${n.outputs.map((o) => `${o.dtype}[${o.shape}]`).join(', ')}`] : [];
  });
}

test('the step, K-step and inference graphs of every case hold no node that the WebGPU provider runs on the CPU or gets wrong', () => {
  for (const [name, c] of Object.entries(CASES)) {
    const layout = layoutOf(c.spec);
    const optimizer = (c.options?.optimizer ?? { kind: 'adam' }) as OptimizerConfig;
    const k = c.options?.stepsPerRun ?? 1;
    for (const loss of lossesOf(c)) {
      for (const steps of new Set([1, k])) {
        const g = buildStepGraph({ layout, loss, optimizer, gatherRows: true, steps, oneHotTargets: true, forGpu: true });
        assert.deepEqual(webgpuProblems(g), [], `${name}, ${JSON.stringify(loss)}, ${steps} step(s)`);
      }
    }
    assert.deepEqual(webgpuProblems(buildInferenceGraph(layout)), [], `${name}: inference graph`);
    const m = buildModel(c.spec);
    assert.deepEqual(webgpuProblems(buildInferenceGraph(layout, m.weights, m.buffers)), [], `${name}: exported model`);
  }
});

test('max pool with overlapping windows or gaps between them: the float32 gradient graph (GPUs run it) matches finite differences', async () => {
  for (const spec of [
    { input: [2, 5, 5], classes: 3, layers: [{ type: 'maxpool2d', size: 3, stride: 2 }, { type: 'flatten' }, { type: 'dense', units: 3 }] },
    { input: [1, 7, 6], classes: 3, layers: [{ type: 'maxpool2d', size: 2, stride: 3 }, { type: 'flatten' }, { type: 'dense', units: 3 }] },
    { input: [1, 4, 4], classes: 3, layers: [{ type: 'maxpool2d', size: 2, stride: 1 }, { type: 'flatten' }, { type: 'dense', units: 3 }] },
  ] as const) {
    const r = await gradCheck({ ...spec, input: [...spec.input], layers: spec.layers.map((l) => ({ ...l })) }, { kind: 'ce' }, 'float32', { samples: 6 });
    assert.ok(r.checked > 0);
    assert.ok(r.worst <= 1, `${JSON.stringify(spec.layers[0])}: ${r.details.join('\n')}`);
  }
});

test('every layer, loss and optimizer trains on webgpu as on the CPU (losses, weights, running statistics, predictions, exported model), with no node on the CPU reading GPU data', { timeout: 300_000 }, async (t) => {
  const env = await swiftShaderEnv(t);
  if (!env) return;
  const names = Object.keys(CASES);
  // SwiftShader compiles every kernel of a new session on its first run: one process per case on webgpu, the CPU all in one.
  const [cpu, ...gpu] = await Promise.all([
    train('cpu', names, env),
    ...names.map((n) => train('webgpu', [n], { ...env, FEDISTILL_COVERAGE_PROFILE: '1' })),
  ]);
  const cpuOps = new Set<string>();
  names.forEach((name, i) => {
    const want = cpu[name]!, got = gpu[i]![name]!;
    assert.equal(want.device, 'cpu');
    assert.equal(got.device, 'webgpu', name);
    // Same seeds, batches, dropout masks and steps: the devices differ only in float rounding.
    assertClose(got.epochs.map((e) => e.loss), want.epochs.map((e) => e.loss), 1e-4, `${name}: epoch loss`);
    assert.deepEqual(got.epochs.map((e) => e.accuracy), want.epochs.map((e) => e.accuracy), `${name}: epoch accuracy`);
    want.weights.forEach((w, j) => assertClose(got.weights[j]!, w, 1e-3, `${name}: weights ${j}`));
    want.buffers.forEach((b, j) => assertClose(got.buffers[j]!, b, 1e-3, `${name}: running statistics ${j}`));
    assertClose(got.probs, want.probs, 1e-3, `${name}: predict`);
    assertClose([got.evaluate.loss], [want.evaluate.loss], 1e-4, `${name}: evaluate loss`);
    assert.equal(got.evaluate.accuracy, want.evaluate.accuracy, `${name}: evaluate accuracy`);
    assertClose(got.exportedProbs, want.exportedProbs, 1e-3, `${name}: exported model`);
    assertClose(got.exportedProbs, got.probs, 1e-5, `${name}: exported model against predict`);
    // A CPU node on GPU data would copy it back and wait in the middle of every step.
    const p = got.placement!;
    assert.deepEqual(p.cpuReadsData, [], `${name}: CPU nodes reading GPU data (${JSON.stringify(p.byProvider.CPU)})`);
    assert.equal(p.toHost, 0, `${name}: MemcpyToHost nodes`);
    assert.ok((p.byProvider.WebGpu?.Gemm ?? 0) + (p.byProvider.WebGpu?.Conv ?? 0) > 0, `${name}: the profile saw the WebGPU provider's kernels`);
    for (const op of Object.keys(p.byProvider.CPU ?? {})) cpuOps.add(op);
  });
  t.diagnostic(`on the CPU provider, shape arithmetic only: ${[...cpuOps].sort().join(', ')}`);
});
