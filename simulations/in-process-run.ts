// In-process mode: the real aggregator, secure channel and site code in one process over in-memory transports.
//
// Each site is a SiteAgent + SiteClient on a SecureClient whose transport is in memory (the full
// handshake and AEAD framing run; only sockets are missing). Sites live in worker threads, one
// per core by default, because ONNX Runtime runs a session synchronously on the calling thread:
// their frames cross to the aggregator's thread over MessagePorts. With workers = 0 every site
// shares the aggregator's thread (no start-up cost: tests and tiny runs).
import { join } from 'node:path';
import type { RunSummary } from '../server/aggregator.ts';
import { RunDatabase } from '../server/run-database.ts';
import { SecureServer } from '../shared/channel/secure-server.ts';
import { Allowlist } from '../shared/crypto/allowlist.ts';
import { generateIdentity, type Identity } from '../shared/crypto/identity.ts';
import type { FederatedOutcome, SiteOutcome } from './federated-outcome.ts';
import type { Scenario } from './scenario.ts';
import { crashServer, inMemoryRunConfig, mergeSummaries, replayLedgerEpsilon, simulationAggregator } from './sim-aggregator.ts';
import { SimulationHub } from './simulation-hub.ts';
import { type HostedOutcome, SiteHost } from './site-host.ts';
import type { SimulationData } from './site-plan.ts';
import { type WorkerJob, WorkerSites } from './site-workers.ts';

export interface InProcessOptions {
  /** Output folder (the aggregator's SQLite database goes here). */
  out: string;
  log: (line: string) => void;
  /** Sites trained at once in the aggregator's thread (workers = 0). */
  concurrency: number;
  /** Worker threads hosting the sites (0: all in this thread). */
  workers: number;
  /** Keep each site's ledger as a JSON-lines file in out/ledgers (default: in memory). */
  ledgerFiles?: boolean;
}

/** The sites, wherever they run. */
interface SiteGroup {
  prepare(): Promise<void>;
  start(): Promise<void>;
  crash(site: string): void;
  outcomes(): Promise<HostedOutcome[]>;
  close(): Promise<void>;
}

/** Runs the scenario's federated rounds in this process and gathers what every party saw. */
export async function runInProcess(s: Scenario, data: SimulationData, o: InProcessOptions): Promise<FederatedOutcome> {
  const aggregatorId = generateIdentity();
  const ids = new Map<string, Identity>(data.sites.map((p) => [p.name, generateIdentity()]));
  const allowlist = new Allowlist([...ids].map(([name, id]) => [id.publicKey, name] as const));
  const newServer = () => new SecureServer({ identity: aggregatorId, allowlist, handshakesPerSecondPerAddress: Infinity });
  let server = newServer();

  const t0 = Date.now();
  let prepared = 0;
  const onReady = () => {
    prepared++;
    if (prepared === data.sites.length || prepared % Math.max(1, Math.ceil(data.sites.length / 10)) === 0) {
      o.log(`local training: ${prepared}/${data.sites.length} sites ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  };
  const ledgerFile = (name: string) => (o.ledgerFiles ? { ledgerFile: join(o.out, 'ledgers', `${name}.ledger.jsonl`) } : {});
  const shared = { publicSet: data.publicSet, evalSet: data.evalSet, serverPublicKey: aggregatorId.publicKey, delta: s.privacy.delta };
  let group: SiteGroup;
  const workers = Math.min(o.workers, data.sites.length);
  if (workers > 0) {
    const jobs: WorkerJob[] = Array.from({ length: workers }, () => ({
      poolSpec: data.pool.spec, publicSpec: data.publicSet.spec, evalSpec: data.evalSet.spec, serverPublicKey: aggregatorId.publicKey,
      delta: s.privacy.delta, concurrency: 1, sites: [],
    }));
    data.sites.forEach((p, i) => jobs[i % workers]!.sites.push({
      name: p.name, settings: p.settings, identity: ids.get(p.name)!, indices: p.privateData.subsetOf!.indices, ...ledgerFile(p.name),
    }));
    group = new WorkerSites(jobs, (_site, t) => void server.acceptTransport(t), o.log, onReady);
    o.log(`${data.sites.length} sites in ${workers} worker threads`);
  } else {
    const host = new SiteHost(data.sites.map((p) => ({ name: p.name, settings: p.settings, privateData: p.privateData, identity: ids.get(p.name)!, ...ledgerFile(p.name) })),
      shared, (name) => server.connectInMemory(`memory:${name}`), o.log);
    group = {
      prepare: () => host.prepare(o.concurrency, onReady), start: () => host.start(), crash: (n) => host.crash(n),
      outcomes: async () => host.outcomes(), close: async () => host.close(),
    };
  }
  try {
    return await runRounds(s, data, o, { server: () => server, setServer: (x) => { server = x; }, newServer, group, t0, identity: aggregatorId });
  } finally {
    await group.close();
    await server.close();
  }
}

interface RoundsContext { server: () => SecureServer; setServer: (s: SecureServer) => void; newServer: () => SecureServer; group: SiteGroup; t0: number; identity: Identity }

/** Local training, connection, the aggregator's rounds (with a restart after a simulated crash), and the outcome. */
async function runRounds(s: Scenario, data: SimulationData, o: InProcessOptions, c: RoundsContext): Promise<FederatedOutcome> {
  const { group } = c;
  await group.prepare();
  const prepareSeconds = (Date.now() - c.t0) / 1000;
  const crashed = new Set<string>();
  const hub = new SimulationHub(c.server(), s, {
    crashSite: (name) => { crashed.add(name); group.crash(name); o.log(`fault: ${name} crashed`); },
    roundStarted: (round) => onRoundStarted(round),
  });
  const dbPath = join(o.out, 'aggregator.db');
  let db = new RunDatabase(dbPath);
  let aggregator = simulationAggregator(s, inMemoryRunConfig(s, dbPath), db, hub, data.publicSet, o.log, c.identity);
  // A simulated aggregator crash: stop once round (crash + 1) starts, refuse its queries, restart from the database.
  let pendingCrash = s.faults.aggregatorCrashRound;
  const onRoundStarted = (round: number) => {
    if (pendingCrash !== undefined && round === pendingCrash + 1) {
      o.log(`fault: the aggregator crashes before round ${round + 1}`);
      aggregator.stop();
      hub.markDown();
    }
  };
  await group.start();
  o.log(`${data.sites.length} sites connected in memory; running ${s.rounds} rounds of ${s.strategy.name}`);
  const t1 = Date.now();
  const parts: RunSummary[] = [];
  let restarts = 0;
  try {
    for (;;) {
      const part = await aggregator.run();
      parts.push(part);
      if (part.status !== 'stopped' || pendingCrash === undefined) break;
      pendingCrash = undefined;
      restarts++;
      await crashServer(c.server());
      db.close();
      db = new RunDatabase(dbPath);
      c.setServer(c.newServer());
      hub.replaceInner(c.server());
      const alive = data.sites.length - crashed.size;
      aggregator = simulationAggregator(s, inMemoryRunConfig(s, dbPath, Math.max(s.quorum, alive)), db, hub, data.publicSet, o.log, c.identity);
      o.log('aggregator restarted from its database; sites reconnect');
    }
    const summary = mergeSummaries(parts);
    const replay = replayLedgerEpsilon(db, s.name, s.privacy.delta);
    const told = new Map((await group.outcomes()).map((x) => [x.name, x]));
    const sites: SiteOutcome[] = data.sites.map((p) => {
      const t = told.get(p.name);
      const b = summary.bytes[p.name] ?? { sent: 0, received: 0 };
      return {
        name: p.name, model: p.modelName, privateSamples: p.privateData.length,
        localOnlyAccuracy: t?.localOnlyAccuracy, finalAccuracy: t?.finalAccuracy, ledgerEpsilon: t?.ledgerEpsilon ?? NaN,
        bytesUp: b.received, bytesDown: b.sent, crashed: crashed.has(p.name),
      };
    });
    return {
      mode: 'in-process', summary, sites, traffic: hub.traffic(), faults: hub.faults, ledgerReplay: replay,
      aggregatorRestarts: restarts, seconds: { prepare: prepareSeconds, rounds: (Date.now() - t1) / 1000 },
    };
  } finally {
    db.close();
  }
}
