// Simulation worker threads: started from a boot module that registers tsx, and tracked so that an interrupt ends the process safely.
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { endBySignal, signalExitCode } from '../shared/util/signal-exit.ts';

/**
 * Worker threads do not inherit the parent's TypeScript loader (tsx) in Node 20, so a worker
 * starts from a tiny ES module (a data: URL) that registers tsx and then imports `entry`.
 */
export function workerBootUrl(entry: URL): URL {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

const live = new Set<Worker>();

/** Starts a worker thread on a .ts entry and tracks it until it exits (see `exitOnSignal`). */
export function startWorker(entry: URL, options: WorkerOptions): Worker {
  const w = new Worker(workerBootUrl(entry), options);
  live.add(w);
  w.once('exit', () => live.delete(w));
  return w;
}

/**
 * Ends the process for `signal` with the status a shell reports for it (130 for SIGINT, 143 for
 * SIGTERM). With worker threads running, neither `process.exit` nor `worker.terminate()` is safe
 * (tearing down a thread inside an onnxruntime call aborts the process, exit 134), so the signal
 * is raised again with its default action (`endBySignal`).
 */
export function exitOnSignal(signal: 'SIGINT' | 'SIGTERM'): never {
  if (live.size > 0) endBySignal(signal);
  process.exit(signalExitCode(signal));
}
