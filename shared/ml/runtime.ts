// onnxruntime sessions and device selection: cpu (default), webgpu, cuda, or auto (best available).
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { existsSync, readdirSync } from 'node:fs';
import { FedistillError, UsageError } from '../util/errors.ts';
import { GraphBuilder } from './graph.ts';
import * as op from './ops.ts';

export type DeviceRequest = 'cpu' | 'webgpu' | 'cuda' | 'auto';
export type Device = 'cpu' | 'webgpu' | 'cuda';
export const DEVICES: readonly DeviceRequest[] = ['cpu', 'webgpu', 'cuda', 'auto'];

export interface RuntimeOptions {
  device?: DeviceRequest;
  /** Intra-op threads for the CPU provider (default: all cores). */
  threads?: number;
}

const HOW_TO: Record<Device, string> = {
  cpu: '',
  webgpu: 'the webgpu provider ships in onnxruntime-node for linux-x64 and needs a GPU with a Vulkan driver (on NVIDIA, the glvnd/libvulkan1 packages); use --device cpu otherwise',
  cuda: 'install onnxruntime-node with its CUDA provider: ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node (needs CUDA 12 and cuDNN 9), or use --device cpu',
};

let probeModel: Uint8Array | undefined;
function tinyModel(): Uint8Array {
  if (!probeModel) {
    const g = new GraphBuilder('probe');
    g.output(op.relu(g, g.input('x', [1])), 'y');
    probeModel = g.toModel();
  }
  return probeModel;
}

const probed = new Map<Device, Promise<string | undefined>>();

/** Why a provider cannot run here, or undefined when it works (checked by running a tiny model once). */
export function providerProblem(d: Device): Promise<string | undefined> {
  let p = probed.get(d);
  if (!p) {
    p = (async () => {
      if (d === 'cpu') return undefined;
      const listed = ort.listSupportedBackends().find((b) => b.name === d);
      if (!listed) return `this onnxruntime-node build has no ${d} provider`;
      try {
        const s = await ort.InferenceSession.create(tinyModel(), { executionProviders: [d], logSeverityLevel: 4 });
        await s.run({ x: new ort.Tensor('float32', new Float32Array([1]), [1]) });
        await s.release();
        return undefined;
      } catch (e) {
        return `the ${d} provider failed to start (${String((e as Error)?.message ?? e).split('\n')[0]})`;
      }
    })();
    probed.set(d, p);
  }
  return p;
}

function hasGpuDevice(): boolean {
  if (existsSync('/dev/nvidia0')) return true;
  try { return readdirSync('/dev/dri').some((f) => f.startsWith('renderD')); } catch { return false; }
}

/** Resolves a request to a provider that works here; a missing one fails with how to get it. */
export async function resolveDevice(req: DeviceRequest = 'cpu'): Promise<Device> {
  if (!DEVICES.includes(req)) throw new UsageError(`unknown device "${req}"; use cpu, webgpu, cuda or auto`, 'E_UNKNOWN_DEVICE');
  if (req === 'auto') {
    // Dawn may offer a software adapter on machines without a GPU; auto only picks webgpu with a GPU device node.
    if (!(await providerProblem('cuda'))) return 'cuda';
    if (hasGpuDevice() && !(await providerProblem('webgpu'))) return 'webgpu';
    return 'cpu';
  }
  const problem = await providerProblem(req);
  if (problem) throw new FedistillError('E_DEVICE_UNAVAILABLE', `device ${req} is not available: ${problem}; ${HOW_TO[req]}`);
  return req;
}

/** Session options for a device: graph optimisation 'all', thread count from config (default all cores). */
export function sessionOptions(device: Device, threads?: number): ort.InferenceSession.SessionOptions {
  const n = threads ?? availableParallelism();
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`threads must be a positive integer, got ${threads}`, 'E_INVALID_PARAMETER');
  return {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: n,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
}

/** Creates a session from model bytes on a resolved device. */
export async function createSession(model: Uint8Array, device: Device, threads?: number, extra: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, { ...sessionOptions(device, threads), ...extra });
}

export { ort };
