// The webgpu provider trains like the CPU one: same losses, metrics and weights, on a software Vulkan driver when there is no GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { swiftShaderEnv } from './swiftshader.ts';

const run = promisify(execFile);

async function train(device: string, env: NodeJS.ProcessEnv, model = 'mlp', stepsPerRun = 1, mode = 'straight') {
  const child = new URL('./device-parity.ts', import.meta.url).pathname;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', child, device, model, String(stepsPerRun), mode], { env, maxBuffer: 1 << 24, timeout: 240_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    device: string; epochs: { loss: number; accuracy: number }[]; progress: number[]; weights: number[][]; probs: number[];
  };
}

function assertClose(a: readonly number[], b: readonly number[], tol: number, what: string) {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('webgpu training (data, state and metrics kept on the device; 1 or 2 steps per run) matches the CPU: losses, progress, weights, predictions', { timeout: 300_000 }, async (t) => {
  const env = await swiftShaderEnv(t);
  if (!env) return;
  // webgpu twice: the training set uploaded once and gathered on the device (default), and batches
  // uploaded step by step (FEDISTILL_GPU_DATA=host, the path for sets over 1 GiB).
  // And two steps per run, unrolled in one graph (the GPU's K-step path; 4 full batches: 2 runs of 2),
  // from resident columns and from batches uploaded with each run.
  // And a fit stopped mid-epoch and resumed, with the state brought to the host every 2 steps (mid-epoch checkpoints).
  const [cpu, gpu, gpuHostData, gpuTwoSteps, gpuTwoStepsHostData, cpuConv, gpuConv, gpuPaused] = await Promise.all([
    train('cpu', env), train('webgpu', env), train('webgpu', { ...env, FEDISTILL_GPU_DATA: 'host' }), train('webgpu', env, 'mlp', 2), train('webgpu', { ...env, FEDISTILL_GPU_DATA: 'host' }, 'mlp', 2),
    train('cpu', env, 'conv'), train('webgpu', env, 'conv'), train('webgpu', env, 'mlp', 1, 'pause'),
  ]);
  assert.equal(cpu.device, 'cpu');
  assert.equal(gpu.device, 'webgpu');
  assert.deepEqual(gpuHostData.epochs, gpu.epochs);
  // Same seeds, same batches and dropout masks: the devices differ only in float rounding.
  assertClose(gpu.epochs.map((e) => e.loss), cpu.epochs.map((e) => e.loss), 1e-4, 'epoch loss');
  assert.deepEqual(gpu.epochs.map((e) => e.accuracy), cpu.epochs.map((e) => e.accuracy));
  assert.equal(cpu.progress.length, 2 * 3);
  assertClose(gpu.progress, cpu.progress, 1e-4, 'progress loss');
  cpu.weights.forEach((w, i) => assertClose(gpu.weights[i]!, w, 1e-3, `weights ${i}`));
  assertClose(gpu.probs, cpu.probs, 1e-3, 'probs');
  // Unrolled steps are the same steps (dropout masks and step counts per step, the constant rate).
  assertClose(gpuTwoSteps.epochs.map((e) => e.loss), gpu.epochs.map((e) => e.loss), 1e-5, 'two steps per run: epoch loss');
  assert.deepEqual(gpuTwoSteps.epochs.map((e) => e.accuracy), gpu.epochs.map((e) => e.accuracy));
  gpu.weights.forEach((w, i) => assertClose(gpuTwoSteps.weights[i]!, w, 1e-5, `two steps per run: weights ${i}`));
  assert.deepEqual(gpuTwoStepsHostData.epochs, gpuTwoSteps.epochs);
  gpuTwoSteps.weights.forEach((w, i) => assert.deepEqual(gpuTwoStepsHostData.weights[i], w, `two steps per run, batches uploaded: weights ${i}`));
  // Stopping and pausing between runs changes nothing but where the state lives.
  assertClose(gpuPaused.epochs.map((e) => e.loss), gpu.epochs.map((e) => e.loss), 1e-6, 'stopped and paused: epoch loss');
  assertClose(gpuPaused.progress, gpu.progress, 1e-6, 'stopped and paused: progress loss');
  gpu.weights.forEach((w, i) => assertClose(gpuPaused.weights[i]!, w, 1e-6, `stopped and paused: weights ${i}`));
  // The cnn path: Conv and its gradients, and the max pool's gradient (Resize, AveragePool, Pad).
  assertClose(gpuConv.epochs.map((e) => e.loss), cpuConv.epochs.map((e) => e.loss), 1e-4, 'cnn epoch loss');
  cpuConv.weights.forEach((w, i) => assertClose(gpuConv.weights[i]!, w, 1e-3, `cnn weights ${i}`));
  assertClose(gpuConv.probs, cpuConv.probs, 1e-3, 'cnn probs');
});
