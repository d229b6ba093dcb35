// Spreads simulated sites over worker threads (one per core by default): ONNX Runtime runs each session synchronously on its thread.
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { SiteSettings } from '../client/site-agent.ts';
import type { FrameTransport } from '../shared/channel/transport.ts';
import type { Identity } from '../shared/crypto/identity.ts';
import { FedistillError } from '../shared/util/errors.ts';
import { PortTransport } from './port-transport.ts';
import { startWorker } from './worker-boot.ts';
import type { HostedOutcome } from './site-host.ts';

/** What one worker hosts (structured-cloneable). Private data travel as indices into the pool. */
export interface WorkerJob {
  poolSpec: string;
  publicSpec: string;
  evalSpec: string;
  serverPublicKey: Uint8Array;
  delta: number;
  /** Sites of this worker trained at once (1: the worker is the unit of parallelism). */
  concurrency: number;
  sites: { name: string; settings: SiteSettings; identity: Identity; indices: Uint32Array; ledgerFile?: string }[];
}

export type ToWorker =
  | { kind: 'prepare' } | { kind: 'start' } | { kind: 'port'; site: string; port: MessagePort }
  | { kind: 'crash'; site: string } | { kind: 'outcomes' } | { kind: 'close' };

export type ToMain =
  | { kind: 'log'; line: string } | { kind: 'ready' } | { kind: 'prepared' } | { kind: 'started' } | { kind: 'connect'; site: string }
  | { kind: 'outcomes'; outcomes: HostedOutcome[] } | { kind: 'closed' } | { kind: 'error'; message: string };

interface Hosted { worker: Worker; sites: Set<string>; waiters: Map<string, ((m: ToMain) => void)[]> }

export class WorkerSites {
  private readonly hosted: Hosted[];
  private failure: Error | undefined;

  /** `accept` hands the aggregator's end of a new connection to the SecureServer. */
  constructor(jobs: WorkerJob[], accept: (site: string, transport: FrameTransport) => void, log: (line: string) => void, onReady: () => void) {
    this.hosted = jobs.map((job) => {
      const worker = startWorker(new URL('./site-worker.ts', import.meta.url), { workerData: job });
      const h: Hosted = { worker, sites: new Set(job.sites.map((s) => s.name)), waiters: new Map() };
      worker.on('message', (m: ToMain) => {
        if (m.kind === 'log') log(m.line);
        else if (m.kind === 'ready') onReady();
        else if (m.kind === 'connect') {
          const { port1, port2 } = new MessageChannel();
          accept(m.site, new PortTransport(port1, `memory:${m.site}`));
          worker.postMessage({ kind: 'port', site: m.site, port: port2 } satisfies ToWorker, [port2]);
        } else if (m.kind === 'error') this.fail(new FedistillError('E_SIMULATION_WORKER', `a site worker failed: ${m.message}`));
        for (const w of h.waiters.get(m.kind)?.splice(0) ?? []) w(m);
      });
      worker.on('error', (e) => this.fail(new FedistillError('E_SIMULATION_WORKER', `a site worker crashed: ${e.message}`)));
      return h;
    });
  }

  private rejecters: ((e: Error) => void)[] = [];

  private fail(e: Error): void {
    this.failure ??= e;
    for (const r of this.rejecters.splice(0)) r(e);
  }

  /** Sends `ask` to every worker and resolves with each one's `answer`. */
  private all(ask: ToWorker, answer: ToMain['kind']): Promise<ToMain[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.rejecters.push(reject);
      Promise.all(this.hosted.map((h) => new Promise<ToMain>((res) => {
        const list = h.waiters.get(answer) ?? [];
        list.push(res);
        h.waiters.set(answer, list);
        h.worker.postMessage(ask);
      }))).then(resolve, reject);
    });
  }

  async prepare(): Promise<void> { await this.all({ kind: 'prepare' }, 'prepared'); }

  async start(): Promise<void> { await this.all({ kind: 'start' }, 'started'); }

  crash(site: string): void {
    this.hosted.find((h) => h.sites.has(site))?.worker.postMessage({ kind: 'crash', site } satisfies ToWorker);
  }

  async outcomes(): Promise<HostedOutcome[]> {
    const got = await this.all({ kind: 'outcomes' }, 'outcomes');
    return got.flatMap((m) => (m.kind === 'outcomes' ? m.outcomes : []));
  }

  async close(): Promise<void> {
    await Promise.race([this.all({ kind: 'close' }, 'closed').catch(() => []), new Promise((r) => setTimeout(r, 2000))]);
    await Promise.all(this.hosted.map((h) => h.worker.terminate()));
  }
}
