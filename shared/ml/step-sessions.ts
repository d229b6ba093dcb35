// The trainer's onnxruntime sessions for training steps (single, unrolled K, or an ONNX Loop), built once per configuration.
import type { ModelLayout } from './layers.ts';
import type { LossConfig } from './losses.ts';
import type { OptimizerConfig } from './optimizers.ts';
import type { Device, ort } from './runtime.ts';
import { type SessionLease, leaseSession } from './session-cache.ts';
import { buildStepGraph, names } from './train-graph.ts';
import { buildLoopStepGraph } from './train-loop-graph.ts';

export interface StepSession { session: ort.InferenceSession; inputs: Set<string>; lease: SessionLease }

/** What the sessions are built for: the model, its optimizer, the device and the names of the carried state. */
export interface StepSessionSource {
  layout: ModelLayout;
  optimizer: OptimizerConfig;
  device: () => Promise<Device>;
  threads?: number;
  /** Names of the state tensors (params, optimizer slots, buffers) a step reads and updates. */
  stateNames: () => Iterable<string>;
}

/**
 * Sessions by configuration, leased on first use (session-cache.ts: trainers of the same model
 * share them); `release` gives them back (they are leased again on next use).
 */
export class StepSessions {
  private readonly sessions = new Map<string, Promise<StepSession>>();

  constructor(private readonly src: StepSessionSource) {}

  /** The step graph's session: one step per run, or `steps` unrolled steps (GPU, resident data). */
  step(loss: LossConfig, gatherRows: boolean, steps = 1): Promise<StepSession> {
    return this.cached(JSON.stringify({ loss, gatherRows, steps }), async () => {
      const device = await this.src.device();
      const g = buildStepGraph({ layout: this.src.layout, loss, optimizer: this.src.optimizer, gatherRows, steps, oneHotTargets: true, forGpu: device !== 'cpu' }); // hard targets are always one-hot labels here
      // On a GPU, next weights, optimizer state and the metric sums stay in GPU buffers and feed
      // the next step directly (IO binding): nothing comes back per step, so the CPU queues the
      // next step while the GPU runs this one. Metrics are read at progress points, state after the loop.
      const onDevice = device === 'webgpu' && process.env.FEDISTILL_GPU_STATE !== 'host';
      const stateOut = new Set([...this.src.stateNames(), 'metrics'].map((n) => names.next(n)));
      const extra: ort.InferenceSession.SessionOptions = onDevice
        ? { preferredOutputLocation: Object.fromEntries(g.outputs.map((o) => [o.name, stateOut.has(o.name) ? 'gpu-buffer' : 'cpu'])) as Record<string, 'gpu-buffer' | 'cpu'> }
        : {};
      return leaseSession(g.toModel(), device, this.src.threads, extra);
    });
  }

  /** K steps per run through an ONNX Loop over K stacked batches (the CPU's multi-step path). */
  loop(loss: LossConfig): Promise<StepSession> {
    return this.cached('loop:' + JSON.stringify(loss), async () => {
      const g = buildLoopStepGraph({ layout: this.src.layout, loss, optimizer: this.src.optimizer, oneHotTargets: true });
      return leaseSession(g.toModel(), await this.src.device(), this.src.threads);
    });
  }

  /** Gives back every session leased so far. */
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.lease.release())); // one that failed to build has nothing to give back
  }

  private cached(key: string, build: () => Promise<SessionLease>): Promise<StepSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = build().then((lease) => ({ session: lease.session, inputs: new Set(lease.session.inputNames), lease }));
      this.sessions.set(key, s);
    }
    return s;
  }
}
