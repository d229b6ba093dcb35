// Runs a scenario end to end: the federated rounds (in-process or loopback), the baselines, and the report folder.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FedistillError } from '../shared/util/errors.ts';
import { type CentralizedResult, type FedAvgResult, runCentralized, runFedAvg } from './baselines.ts';
import { defaultConcurrency } from './concurrency.ts';
import type { FederatedOutcome, SimulationMode } from './federated-outcome.ts';
import { runInProcess } from './in-process-run.ts';
import { checkLoopbackScenario, runLoopback } from './loopback-run.ts';
import { buildReport, type SimulationReport } from './report-data.ts';
import { writeReport } from './report-writer.ts';
import type { Scenario } from './scenario.ts';
import { inMemoryRunConfig } from './sim-aggregator.ts';
import { planSites } from './site-plan.ts';
import { describePlan, planRun } from '../server/run-plan.ts';

export interface SimulateOptions {
  mode: SimulationMode;
  out: string;
  log: (line: string) => void;
  /** In-process: worker threads hosting the sites (default: one per core; 0 = the main thread). */
  workers?: number;
  /** In-process with workers = 0: sites trained at once (default: one per core). Also FedAvg's trainer pool. */
  concurrency?: number;
  scenarioFile?: string;
  /** The command line to print beside the figures. */
  command?: string;
  /** Skip the baselines even if the scenario asks for them (quick runs). */
  noBaselines?: boolean;
}

export interface SimulationResult {
  report: SimulationReport;
  files: { json: string; csv: string; html: string; charts: string[] };
}

/** What simulations/pate-mnist/index.ts exports for `kind: pate-reproduction` scenarios. */
type PateEntry = (scenario: Record<string, unknown>, o: { out: string; log: (line: string) => void }) => Promise<unknown>;

/** Hands a PATE reproduction to its own module; a clear error while that module does not exist. */
async function runPateReproduction(s: Scenario, o: SimulateOptions): Promise<unknown> {
  const file = new URL('./pate-mnist/index.ts', import.meta.url);
  if (!existsSync(file)) {
    throw new FedistillError('E_PATE_REPRODUCTION_MISSING', `scenario "${s.name}" is a pate-reproduction, but simulations/pate-mnist/index.ts is not installed in this build; run a federated scenario instead`);
  }
  const mod = (await import(pathToFileURL(file.pathname).href)) as { runPateMnist?: PateEntry };
  if (typeof mod.runPateMnist !== 'function') {
    throw new FedistillError('E_PATE_REPRODUCTION_MISSING', 'simulations/pate-mnist/index.ts does not export runPateMnist(scenario, {out, log})');
  }
  // The module validates its own fields, so it gets the scenario mapping as written.
  return mod.runPateMnist(s.raw, { out: o.out, log: o.log });
}

/** Removes a previous run's database from the output folder: a simulation always starts from round 1. */
function freshOutput(out: string): void {
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // a path through a file, or an unwritable place, is the user's to fix: not an internal error
    throw new FedistillError('E_FILE_WRITE', `cannot create the output folder ${out} (${code ?? (e as Error).message}): --out must name a folder that is, or can be, created there`);
  }
  for (const f of ['aggregator.db', 'aggregator.db-wal', 'aggregator.db-shm', 'deployment']) rmSync(join(out, f), { recursive: true, force: true });
}

/** Runs a federated scenario and writes its report; a pate-reproduction goes to its module (its result is returned as is). */
export async function runSimulation(s: Scenario, o: SimulateOptions): Promise<SimulationResult | { pate: unknown }> {
  if (s.kind === 'pate-reproduction') return { pate: await runPateReproduction(s, o) };
  // what site processes cannot run is refused before the output folder is touched or anything trains
  if (o.mode === 'loopback') checkLoopbackScenario(s);
  const started = new Date();
  const t0 = Date.now();
  const out = resolve(o.out);
  const concurrency = o.concurrency ?? defaultConcurrency();
  o.log(`scenario ${s.name}: ${s.sites.count} sites, ${s.rounds} rounds of ${s.strategy.name}, ${o.mode}; report in ${out}`);
  // a bad split spec or partition is refused before a previous run's database in OUT is removed
  const data = planSites(s);
  freshOutput(out);
  o.log(`data: ${data.pool.length} private samples over ${s.sites.count} sites (${s.data.partition.scheme}; sizes ${data.partition.sizes.min}–${data.partition.sizes.max}, ${data.partition.meanClassesPresent} classes per site on average), public ${data.publicSet.length}, eval ${data.evalSet.length}`);
  // The plan a deployment's aggregator logs when it starts (server/run-aggregator.ts), before any site trains:
  // both modes run the aggregator on the run fields inMemoryRunConfig validates (loopback writes the same to run.yaml).
  for (const line of describePlan(planRun(inMemoryRunConfig(s, join(out, 'aggregator.db')), data.publicSet.numClasses, data.publicSet.length))) o.log(line);
  const outcome: FederatedOutcome = o.mode === 'loopback'
    ? await runLoopback(s, data, { out, log: o.log })
    : await runInProcess(s, data, { out, log: o.log, concurrency, workers: o.workers ?? defaultConcurrency() });
  const tb = Date.now();
  let centralized: CentralizedResult | null = null;
  let fedavg: FedAvgResult | null = null;
  if (!o.noBaselines && s.baselines.centralized) {
    o.log(`baseline centralized: ${s.baselines.centralized.epochs} epochs on all ${data.pool.length} samples`);
    centralized = await runCentralized(s, data, s.baselines.centralized.epochs);
  }
  if (!o.noBaselines && s.baselines.fedavg) {
    fedavg = await runFedAvg(s, data, s.baselines.fedavg.epochsPerRound, concurrency, o.log);
    if (fedavg.skipped) o.log(`baseline fedavg skipped: ${fedavg.reason}`);
  }
  const report = buildReport({
    scenario: s, ...(o.scenarioFile ? { scenarioFile: o.scenarioFile } : {}), outcome, centralized, fedavg,
    command: o.command ?? `fedistill simulate ${o.scenarioFile ?? '<scenario>'} --mode ${o.mode} --out ${o.out}`,
    startedAt: started, seconds: { total: (Date.now() - t0) / 1000, baselines: (Date.now() - tb) / 1000 },
    peakRssBytes: process.resourceUsage().maxRSS * 1024, partition: data.partition,
  });
  const files = writeReport(out, report);
  return { report, files };
}
