// Loopback mode: every site is a real `fedistill client` process talking to the aggregator over secure websockets on 127.0.0.1.
//
// Keys and configs are written by local-deployment.ts (the same files an operator would write).
// The aggregator runs in this process, on the same port and files, so that the simulation hub can
// inject faults and count bytes per round exactly as in in-process mode.
import { join } from 'node:path';
import type { RunSummary } from '../server/aggregator.ts';
import { loadRunConfig } from '../server/run-config.ts';
import { RunDatabase } from '../server/run-database.ts';
import { SecureServer } from '../shared/channel/secure-server.ts';
import { loadAllowlist } from '../shared/crypto/allowlist.ts';
import { readIdentityFile } from '../shared/crypto/identity.ts';
import { isMapping } from '../shared/util/config-fields.ts';
import { FedistillError, UsageError } from '../shared/util/errors.ts';
import { competenceFields } from '../client/domain-competence.ts';
import { type ProcessResult, spawnFedistill, writeDeployment } from './local-deployment.ts';
import type { FederatedOutcome, SiteOutcome } from './federated-outcome.ts';
import { modelOfSite, type Scenario } from './scenario.ts';
import { crashServer, mergeSummaries, replayLedgerEpsilon, runFieldsOf, simulationAggregator } from './sim-aggregator.ts';
import { SimulationHub } from './simulation-hub.ts';
import { siteName, type SimulationData } from './site-plan.ts';
import { simModelName } from './sim-models.ts';

export interface LoopbackOptions { out: string; log: (line: string) => void }

/** The models a site process (site.yaml `model`) can build. */
const SITE_PROCESS_MODELS: readonly unknown[] = ['mlp', 'cnn'];

/**
 * Refuses (usage error, exit 2) what site processes cannot express, from the scenario alone:
 * run-simulation.ts calls it before any data is loaded or any site trains.
 */
export function checkLoopbackScenario(s: Scenario): void {
  // models cycle over the sites: the first min(count, models) sites use every model that is used
  const listed = isMapping(s.raw.sites) && s.raw.sites.models !== undefined;
  for (let site = 1; site <= Math.min(s.sites.count, s.sites.models.length); site++) {
    const m = modelOfSite(s, site);
    if (!SITE_PROCESS_MODELS.includes(m)) {
      throw new UsageError(`${listed ? `sites.models[${site - 1}]` : 'sites.model'}: ${siteName(site)} uses model "${simModelName(m)}", but site processes accept only mlp or cnn: use those, or run this scenario with --mode in-process`, 'E_SCENARIO_LOOPBACK_MODEL');
    }
  }
  if (s.data.partition.sigma !== undefined) {
    throw new UsageError('data.partition.sigma: site processes cannot set it (site.yaml has no sigma; they use σ = 1): remove it, or run this scenario with --mode in-process', 'E_SCENARIO_LOOPBACK_PARTITION');
  }
}

/** The site.yaml fields of one site: the same data share, model, seed and settings as in-process. */
function siteFields(s: Scenario, data: SimulationData, i: number): Record<string, unknown> {
  const p = data.sites[i]!;
  const model = p.settings.model;
  // checkLoopbackScenario (called first) refuses any other model
  if (typeof model !== 'string') throw new Error(`internal: ${p.name} has model "${p.modelName}" in loopback mode`);
  const part = s.data.partition;
  const st = p.settings;
  return {
    public_set: s.data.publicSet, eval_set: s.data.evalSet, model, teachers: st.teachers, threads: st.threads, seed: st.seed, device: 'cpu',
    data: { dataset: s.data.dataset, partition: { scheme: part.scheme, clients: s.sites.count, index: i, seed: part.seed, ...(part.alpha !== undefined ? { alpha: part.alpha } : {}), ...(part.shards !== undefined ? { shards: part.shards } : {}) } },
    local: { epochs: st.local.epochs, batch: st.local.batchSize, lr: st.local.lr, optimizer: st.local.optimizer },
    digest: { epochs: st.digest.epochs, revisit_epochs: st.digest.revisitEpochs, private_mix: st.digest.privateMix, temperature: st.digest.temperature },
    policy: {
      clip: st.policy.clip, local_noise_multiplier: st.policy.localNoiseMultiplier, share_metrics: true,
      ...(st.policy.competence ? { competence: competenceFields(st.policy.competence) } : {}),
    },
  };
}

/** Runs the scenario with one OS process per site and returns what every party saw. */
export async function runLoopback(s: Scenario, data: SimulationData, o: LoopbackOptions): Promise<FederatedOutcome> {
  checkLoopbackScenario(s);
  const dir = join(o.out, 'deployment');
  const files = await writeDeployment({
    dir, runId: s.name, sites: s.sites.count,
    run: runFieldsOf(s, 'fedistill.db'), site: {}, perSite: (i) => siteFields(s, data, i),
  });
  const config = loadRunConfig(files.runConfig);
  const identity = readIdentityFile(config.identity);
  const allowlist = loadAllowlist(config.allowlist);
  const newServer = async () => new SecureServer({ identity, allowlist, port: config.listen.port, host: config.listen.host, handshakesPerSecondPerAddress: Infinity }).listen();
  let server = await newServer();
  const t0 = Date.now();
  const procs = new Map<string, ReturnType<typeof spawnFedistill>>();
  const crashed = new Set<string>();
  data.sites.forEach((p, i) => procs.set(p.name, spawnFedistill(p.name, ['client', '--config', files.siteConfigs[i]!], (l) => o.log(l))));
  let aggregatorUp = true;
  let firstRoundAt = 0;
  const hub = new SimulationHub(server, s, {
    crashSite: (name) => { crashed.add(name); procs.get(name)?.kill('SIGKILL'); o.log(`fault: ${name} killed`); },
    roundStarted: (round) => {
      if (round === 0 && firstRoundAt === 0) firstRoundAt = Date.now();
      if (aggregatorUp && s.faults.aggregatorCrashRound !== undefined && round === s.faults.aggregatorCrashRound + 1) {
        o.log(`fault: the aggregator crashes before round ${round + 1}`);
        aggregatorUp = false;
        aggregator.stop();
        hub.markDown();
      }
    },
  });
  let db = new RunDatabase(config.database);
  let aggregator = simulationAggregator(s, config, db, hub, data.publicSet, (l) => o.log(`[aggregator] ${l}`), identity);
  o.log(`aggregator listening on ${server.url}; ${s.sites.count} site processes training locally`);
  const parts: RunSummary[] = [];
  let restarts = 0;
  try {
    for (;;) {
      const part = await aggregator.run();
      parts.push(part);
      if (part.status !== 'stopped' || aggregatorUp) break;
      restarts++;
      await crashServer(server);
      db.close();
      db = new RunDatabase(config.database);
      server = await newServer();
      hub.replaceInner(server);
      const alive = s.sites.count - crashed.size;
      aggregator = simulationAggregator(s, { ...config, minSites: Math.max(s.quorum, alive) }, db, hub, data.publicSet, (l) => o.log(`[aggregator] ${l}`), identity);
      aggregatorUp = true;
      o.log('aggregator restarted on the same port from its database; sites reconnect');
    }
    // the simulation owns its site processes: the run's end (bye, 1000) ends them, whatever the status
    aggregator.endRun(parts.at(-1)!, { evenIfResumable: true });
  } finally {
    await server.close();
  }
  const results = new Map<string, ProcessResult>();
  const timer = setTimeout(() => { for (const p of procs.values()) p.kill('SIGKILL'); }, 60_000);
  for (const [name, p] of procs) results.set(name, await p.done);
  clearTimeout(timer);
  const summary = mergeSummaries(parts);
  const replay = replayLedgerEpsilon(db, s.name, s.privacy.delta);
  db.close();
  const sites: SiteOutcome[] = data.sites.map((p) => {
    const r = results.get(p.name)!;
    const b = summary.bytes[p.name] ?? { sent: 0, received: 0 };
    if (!crashed.has(p.name) && r.code !== 0) {
      throw new FedistillError('E_SIMULATION_SITE_FAILED', `${p.name} exited with code ${r.code}: ${r.stderrTail.trim().split('\n').slice(-3).join(' | ')}`);
    }
    return {
      name: p.name, model: p.modelName, privateSamples: p.privateData.length,
      localOnlyAccuracy: r.summary?.baseline_accuracy, finalAccuracy: r.summary?.final_accuracy,
      ledgerEpsilon: r.summary?.ledger_epsilon ?? NaN, bytesUp: b.received, bytesDown: b.sent, crashed: crashed.has(p.name),
    };
  });
  return {
    mode: 'loopback', summary, sites, traffic: hub.traffic(), faults: hub.faults, ledgerReplay: replay, aggregatorRestarts: restarts,
    seconds: { prepare: ((firstRoundAt || t0) - t0) / 1000, rounds: (Date.now() - (firstRoundAt || t0)) / 1000 },
  };
}
