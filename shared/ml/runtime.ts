// onnxruntime sessions and device selection: cpu (default), webgpu, cuda, or auto (best available).
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
  webgpu: 'the webgpu provider ships in onnxruntime-node for linux-x64 and needs a GPU with a Vulkan driver (on NVIDIA, the glvnd/libvulkan1 packages); without a GPU, VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json runs it on the CPU through SwiftShader (slowly, for tests); use --device cpu otherwise',
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
      // Without its shared library, trying CUDA only makes onnxruntime print a loader error.
      if (d === 'cuda' && !cudaLibraryPresent()) return 'this onnxruntime-node install has no CUDA provider library (libonnxruntime_providers_cuda.so)';
      try {
        // The first webgpu session configures the process's WebGPU context: the probe carries the options.
        const s = await ort.InferenceSession.create(tinyModel(), { executionProviders: [providerEntry(d)], logSeverityLevel: 4 });
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

/** Whether onnxruntime-node's CUDA provider library was installed next to its binding. */
function cudaLibraryPresent(): boolean {
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    return existsSync(join(pkg, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'));
  } catch { return true; } // unknown layout: let onnxruntime try
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

/**
 * WebGPU provider options that onnxruntime-node passes through (validation, layout, robustness and
 * buffer caches), from FEDISTILL_WEBGPU_OPTIONS="key=value,...". Defaults are onnxruntime's. They
 * are read once: the WebGPU context is shared by every session of the process and configured by the first.
 */
export function webgpuOptions(spec = process.env.FEDISTILL_WEBGPU_OPTIONS ?? ''): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, value] = part.split('=').map((x) => x.trim()) as [string, string | undefined];
    const allowed = WEBGPU_OPTIONS[key];
    if (!allowed || value === undefined || !allowed.includes(value)) {
      throw new UsageError(`FEDISTILL_WEBGPU_OPTIONS: "${part}" is not a known option; use ${Object.entries(WEBGPU_OPTIONS).map(([k, v]) => `${k}=${v.join('|')}`).join(', ')}`, 'E_INVALID_PARAMETER');
    }
    out[key] = key === 'enableRobustness' ? value === 'true' : value;
  }
  return out;
}
const CACHE_MODES = ['disabled', 'lazyRelease', 'simple', 'bucket'];
const WEBGPU_OPTIONS: Record<string, string[]> = {
  validationMode: ['disabled', 'wgpuOnly', 'basic', 'full'],
  preferredLayout: ['NCHW', 'NHWC'],
  enableRobustness: ['true', 'false'],
  storageBufferCacheMode: CACHE_MODES,
  uniformBufferCacheMode: CACHE_MODES,
  defaultBufferCacheMode: CACHE_MODES,
};

function providerEntry(device: Device): string | { name: string } {
  return device === 'webgpu' ? { name: 'webgpu', ...webgpuOptions() } : device;
}

/**
 * FEDISTILL_ORT_PROFILE=<folder>: every session records onnxruntime's profile (per-op times; on
 * webgpu also each kernel's GPU time), written to <folder>/ort_<date>.json when the session is
 * freed: by the last `Trainer.release` of the trainers sharing it (session-cache.ts);
 * `summarizeProfile` reads it.
 */
function profileOptions(): ort.InferenceSession.SessionOptions {
  const dir = process.env.FEDISTILL_ORT_PROFILE;
  if (!dir) return {};
  try { mkdirSync(dir, { recursive: true }); } catch (e) {
    throw new UsageError(`FEDISTILL_ORT_PROFILE: cannot create the folder ${dir}: ${(e as Error).message}`, 'E_INVALID_PARAMETER');
  }
  return { enableProfiling: true, profileFilePrefix: join(dir, 'ort') };
}

/**
 * Session options for a device: thread count from config (default all cores); graph optimisation
 * 'extended' on the CPU and 'all' elsewhere. On the CPU, 'all' adds the NCHWc layout transform,
 * which puts reorders around every Conv; with the small channel counts of these models and the
 * NCHW gradient ops beside them, that made the cnn's training step and inference slower.
 */
export function sessionOptions(device: Device, threads?: number): ort.InferenceSession.SessionOptions {
  const n = threads ?? availableParallelism();
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`threads must be a positive integer, got ${threads}`, 'E_INVALID_PARAMETER');
  return {
    executionProviders: [providerEntry(device)] as ort.InferenceSession.SessionOptions['executionProviders'],
    graphOptimizationLevel: device === 'cpu' ? 'extended' : 'all',
    intraOpNumThreads: n,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Errors only: a GPU provider otherwise warns on every session that shape arithmetic runs on the CPU (by design).
    logSeverityLevel: 3,
    ...profileOptions(),
  };
}

/** Creates a session from model bytes on a resolved device. */
export async function createSession(model: Uint8Array, device: Device, threads?: number, extra: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, { ...sessionOptions(device, threads), ...extra });
}

export { ort };
