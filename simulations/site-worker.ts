// Worker-thread entry: hosts a share of the simulated sites; connections to the aggregator arrive as transferred MessagePorts.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { loadDataset } from '../shared/data/catalog.ts';
import { subset } from '../shared/data/image-dataset.ts';
import { PortTransport } from './port-transport.ts';
import { SiteHost } from './site-host.ts';
import type { ToMain, ToWorker, WorkerJob } from './site-workers.ts';

const job = workerData as WorkerJob;
const port = parentPort!;
const send = (m: ToMain) => port.postMessage(m);
const pending = new Map<string, (p: MessagePort) => void>();

const pool = loadDataset(job.poolSpec);
const host = new SiteHost(
  job.sites.map((s) => ({ name: s.name, settings: s.settings, identity: s.identity, privateData: subset(pool, s.indices), ...(s.ledgerFile ? { ledgerFile: s.ledgerFile } : {}) })),
  { publicSet: loadDataset(job.publicSpec), evalSet: loadDataset(job.evalSpec), serverPublicKey: job.serverPublicKey, delta: job.delta },
  (site) => new Promise<PortTransport>((resolve) => {
    pending.set(site, (p) => resolve(new PortTransport(p, 'memory:aggregator')));
    send({ kind: 'connect', site });
  }),
  (line) => send({ kind: 'log', line }),
);

port.on('message', (m: ToWorker) => {
  const fail = (e: unknown) => send({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
  if (m.kind === 'prepare') host.prepare(job.concurrency, () => send({ kind: 'ready' })).then(() => send({ kind: 'prepared' }), fail);
  else if (m.kind === 'start') host.start().then(() => send({ kind: 'started' }), fail);
  else if (m.kind === 'port') { pending.get(m.site)?.(m.port); pending.delete(m.site); }
  else if (m.kind === 'crash') host.crash(m.site);
  else if (m.kind === 'outcomes') send({ kind: 'outcomes', outcomes: host.outcomes() });
  else if (m.kind === 'close') { host.close(); send({ kind: 'closed' }); }
});
