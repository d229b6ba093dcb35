// onnxruntime sessions shared by every trainer of a thread that builds the same graph with the same options.
import { createHash } from 'node:crypto';
import { type Device, createSession, ort, sessionOptions } from './runtime.ts';

/** One holder's use of a shared session: `release` gives it back; the last one frees the session. */
export interface SessionLease {
  readonly session: ort.InferenceSession;
  release(): Promise<void>;
}

interface Entry { session: Promise<ort.InferenceSession>; leases: number }

/** Sessions by graph bytes and options. Per thread: a worker's sites share its sessions, not another worker's. */
const shared = new Map<string, Entry>();

/**
 * Leases whose holder was collected without `release` (pate-mnist's teachers, the baselines, a
 * site's domain discriminator are never released): each gives its count back, so that a graph
 * no one holds leaves the cache and its session is freed by the collector, as an unshared one was.
 * Not released here: a run may still be using the session after its trainer became unreachable.
 */
const collected = new FinalizationRegistry<() => boolean>((giveBack) => { giveBack(); });

/**
 * A session for `model` on `device`, shared with every other holder of the same graph bytes,
 * thread count and options. The engine's training and evaluation graphs take weights and
 * optimizer state as inputs, so sites with the same model build byte-identical graphs: a
 * simulation's 1,000 sites then hold each of their five sessions once instead of 1,000 times
 * (about 0.9 MiB and one graph optimisation each). A session's runs are serialised on the
 * JavaScript thread that calls them, so holders never run it at once. The key is the complete
 * session options, those read from the environment (FEDISTILL_ORT_PROFILE, FEDISTILL_WEBGPU_OPTIONS)
 * included: a profiled trainer never gets an unprofiled session.
 */
export async function leaseSession(model: Uint8Array, device: Device, threads?: number, extra: ort.InferenceSession.SessionOptions = {}): Promise<SessionLease> {
  const options = { ...sessionOptions(device, threads), ...extra };
  const key = createHash('sha256').update(model).update(JSON.stringify([device, options])).digest('hex');
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
  const giveBack = countedOnce(key, held);
  const token = {};
  const lease: SessionLease = {
    session,
    release: async () => {
      collected.unregister(token);
      if (giveBack()) await session.release();
    },
  };
  collected.register(lease, giveBack, token);
  return lease;
}

/**
 * Gives one lease back, once however often it is called; true when it was the entry's last, which
 * then leaves the cache. Built apart from the lease so that nothing it keeps refers to the lease.
 */
function countedOnce(key: string, held: Entry): () => boolean {
  let done = false;
  return () => {
    if (done) return false;
    done = true;
    if (--held.leases > 0) return false;
    if (shared.get(key) === held) shared.delete(key);
    return true;
  };
}

/** Sessions this thread holds now (tests and benchmarks). */
export function sharedSessionCount(): number {
  return shared.size;
}
