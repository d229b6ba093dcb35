// onnxruntime sessions shared by every trainer of a thread that builds the same graph with the same options.
import { createHash } from 'node:crypto';
import { type Device, createSession, ort } from './runtime.ts';

/** One holder's use of a shared session: `release` gives it back; the last one frees the session. */
export interface SessionLease {
  readonly session: ort.InferenceSession;
  release(): Promise<void>;
}

interface Entry { session: Promise<ort.InferenceSession>; leases: number }

/** Sessions by graph bytes and options. Per thread: a worker's sites share its sessions, not another worker's. */
const shared = new Map<string, Entry>();

/**
 * A session for `model` on `device`, shared with every other holder of the same graph bytes,
 * thread count and options. The engine's training and evaluation graphs take weights and
 * optimizer state as inputs, so sites with the same model build byte-identical graphs: a
 * simulation's 1,000 sites then hold each of their five sessions once instead of 1,000 times
 * (about 0.9 MiB and one graph optimisation each). A session's runs are serialised on the
 * JavaScript thread that calls them, so holders never run it at once.
 */
export async function leaseSession(model: Uint8Array, device: Device, threads?: number, extra: ort.InferenceSession.SessionOptions = {}): Promise<SessionLease> {
  const key = createHash('sha256').update(model).update(JSON.stringify([device, threads ?? null, extra])).digest('hex');
  let entry = shared.get(key);
  if (!entry) {
    const created: Entry = { session: createSession(model, device, threads, extra), leases: 0 };
    shared.set(key, created);
    created.session.catch(() => { if (shared.get(key) === created) shared.delete(key); }); // the next holder tries again
    entry = created;
  }
  const held = entry;
  held.leases++;
  let session: ort.InferenceSession;
  try { session = await held.session; } catch (e) { held.leases--; throw e; }
  let released = false;
  return {
    session,
    release: async () => {
      if (released) return;
      released = true;
      if (--held.leases > 0) return;
      if (shared.get(key) === held) shared.delete(key);
      await session.release();
    },
  };
}

/** Sessions this thread holds now (tests and benchmarks). */
export function sharedSessionCount(): number {
  return shared.size;
}
