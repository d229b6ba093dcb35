// Copies tensors between host memory and a GPU provider's buffers, through small identity graphs on that provider.
import type { Device, ort } from './runtime.ts';
import { type SessionLease, leaseSession } from './session-cache.ts';
import { GraphBuilder } from './graph.ts';
import * as op from './ops.ts';

type Named = [string, ort.Tensor][];

/**
 * onnxruntime-node has no call that moves a tensor to or from a GPU; a session does, when its
 * outputs are placed there (preferredOutputLocation) or default to the host. One identity session
 * per set of names and row shapes, built on first use. On the CPU both directions are no-ops.
 */
export class DeviceCopies {
  private readonly sessions = new Map<string, Promise<SessionLease>>();

  constructor(private readonly device: () => Promise<Device>, private readonly threads?: number) {}

  /** Host copies of tensors, in order (those already on the host as they are). */
  async toHost(tensors: Named): Promise<ort.Tensor[]> {
    const onGpu = tensors.filter(([, t]) => t.location !== 'cpu');
    if (onGpu.length === 0) return tensors.map(([, t]) => t);
    const out = await this.copy('host', onGpu, (t) => t.dims, {});
    return tensors.map(([name, t]) => (t.location === 'cpu' ? t : out[name]!));
  }

  /**
   * Device copies of host tensors, by name. The first dimension is symbolic, so one session serves
   * data sets of any length. The caller disposes of them when done (`tensor.dispose()`).
   */
  async toDevice(tensors: Named): Promise<Record<string, ort.Tensor>> {
    if ((await this.device()) === 'cpu') return Object.fromEntries(tensors);
    const location = Object.fromEntries(tensors.map(([name]) => [`${name}__device`, 'gpu-buffer'])) as Record<string, 'gpu-buffer'>;
    return this.copy('device', tensors, (t) => ['M', ...t.dims.slice(1)], { preferredOutputLocation: location });
  }

  /** Gives back the identity sessions (leased again on next use). */
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.release()));
  }

  private async copy(to: 'host' | 'device', tensors: Named, dims: (t: ort.Tensor) => readonly (number | string)[], extra: ort.InferenceSession.SessionOptions): Promise<Record<string, ort.Tensor>> {
    const key = `${to}:` + tensors.map(([name, t]) => `${name}[${dims(t)}]`).join('|');
    let session = this.sessions.get(key);
    if (!session) {
      session = (async () => {
        const g = new GraphBuilder(`to-${to}`);
        for (const [name, t] of tensors) g.output(op.identity(g, g.input(name, dims(t))), `${name}__${to}`);
        return leaseSession(g.toModel(), await this.device(), this.threads, extra);
      })();
      this.sessions.set(key, session);
    }
    const out = await (await session).session.run(Object.fromEntries(tensors));
    return Object.fromEntries(tensors.map(([name]) => [name, out[`${name}__${to}`]!]));
  }
}
