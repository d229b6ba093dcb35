// `fedistill simulate SCENARIO.yaml`: runs a simulation scenario and writes its report folder.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PateMnistResult } from '../../simulations/pate-mnist/index.ts';
import type { CliIO, CommandSpec } from '../parse.ts';
import { loadScenario, type Scenario } from '../../simulations/scenario.ts';
import { FedistillError, UsageError } from '../../shared/util/errors.ts';
import { readYamlFile } from '../../shared/util/yaml-file.ts';
import { runSimulation } from '../../simulations/run-simulation.ts';
import { formatBytes } from '../../simulations/report-html.ts';
import { exitOnSignal } from '../../simulations/worker-boot.ts';
import { terminateSpawned } from '../../simulations/local-deployment.ts';
import { errorJson } from '../error-json.ts';
import { signalExitCode } from '../../shared/util/signal-exit.ts';

const pct = (v: number | null | undefined) => (typeof v === 'number' ? `${(100 * v).toFixed(2)}%` : 'n/a');

/** The human summary of a PATE reproduction (what `--json` prints in full). */
export function pateSummary(p: PateMnistResult): string {
  return [
    '',
    `PATE reproduction "${p.scenario}" (seed ${p.seed}): ${p.target.met ? 'target met' : 'target NOT met'}, ${p.seconds.toFixed(0)} s`,
    `  teachers     ${p.teachers.count} × ${p.teachers.model}, mean accuracy ${pct(p.teachers.mean_accuracy)} (${pct(p.teachers.min_accuracy)}–${pct(p.teachers.max_accuracy)})`,
    `  aggregation  ${p.aggregation.answered} of ${p.aggregation.queries} queries answered (Confident-GNMax T=${p.aggregation.threshold}, σ1=${p.aggregation.sigma1}, σ2=${p.aggregation.sigma2})`,
    `  student      ${p.student.model}: accuracy ${pct(p.student.accuracy)} (target ≥ ${pct(p.target.student_accuracy)})`,
    `  privacy      publishable ε = ${p.privacy.realized.epsilon_data_independent.toFixed(3)} (data-independent) at δ = ${p.privacy.delta}`,
    `               data-dependent (private): ε = ${p.privacy.realized.epsilon.toFixed(3)} realized (replay ${p.privacy.replayed.epsilon.toFixed(3)}), ${p.privacy.expected.epsilon.toFixed(3)} expected (${p.privacy.expected.note}); target ε ≤ ${p.target.epsilon}`,
    '  (--json prints every figure)',
  ].join('\n');
}

/** Whether a YAML file's top level has one of `keys`: how a scenario of the other command is recognised. */
export function scenarioHasKeys(file: string, keys: readonly string[]): boolean {
  try {
    const raw = readYamlFile(file, 'scenario');
    return raw !== null && typeof raw === 'object' && !Array.isArray(raw) && keys.some((k) => Object.hasOwn(raw, k));
  } catch {
    return false;
  }
}

/** Loads a simulation scenario; an attack scenario (docs/audit-attacks.md) is sent to the command that runs it. */
function loadSimulationScenario(file: string): Scenario {
  try {
    return loadScenario(file);
  } catch (e) {
    if (e instanceof FedistillError && e.code === 'E_SCENARIO_INVALID' && scenarioHasKeys(file, ['canary', 'membership'])) {
      throw new UsageError(`${file} is an attack scenario (it has canary or membership sections), not a simulation: run "fedistill audit attack --scenario ${file}"`, 'E_SCENARIO_INVALID');
    }
    throw e;
  }
}

/**
 * Ctrl-C (or SIGTERM) during a simulation: one line saying what is kept, then the usual status
 * (130, 143). The aggregator database holds every round finished so far (SQLite commits each);
 * the report is written only at the end. Returns the function that removes the handlers.
 */
function reportInterruption(io: CliIO, out: string, federated: boolean, mode: 'in-process' | 'loopback', json: boolean): () => void {
  const handler = (signal: NodeJS.Signals) => {
    const dir = resolve(out);
    // Loopback runs keep the aggregator's database where an operator's deployment would (docs/simulations.md, Reports).
    const db = mode === 'loopback' ? join(dir, 'deployment', 'fedistill.db') : join(dir, 'aggregator.db');
    const kept = federated && existsSync(db)
      ? `kept ${db} (the rounds finished so far, with their privacy ledger and audit log: fedistill audit report ${db})`
      : `kept what was written to ${dir} so far`;
    const stale = existsSync(join(dir, 'report.json')) ? ` (the report files in ${dir} are from an earlier run)` : '';
    const line = `simulate: interrupted (${signal}); ${kept}; no report was written${stale}`;
    io.err(line);
    // --json promises one object on stdout, also when the run is stopped
    if (json) io.out(errorJson('fedistill simulate', 'E_INTERRUPTED', line, signalExitCode(signal)));
    // loopback sites are processes of their own: a SIGTERM sent to this one alone would leave them running
    terminateSpawned('SIGTERM');
    exitOnSignal(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM'); // safe with site workers inside onnxruntime
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => { process.off('SIGINT', handler); process.off('SIGTERM', handler); };
}

export const simulateCommand: CommandSpec = {
  name: 'simulate',
  summary: 'run a simulation scenario (sites, strategy, privacy, faults) and write a report',
  description:
    'Runs the real aggregator and site code on one machine for a scenario file (see docs/simulations.md):\n' +
    '  in-process  all parties in this process over in-memory secure channels (fast, scales to 1,000 sites)\n' +
    '  loopback    each site a `fedistill client` process over secure websockets on 127.0.0.1\n' +
    'Then the baselines the scenario asks for (local-only, centralized, FedAvg), and a report folder:\n' +
    'report.json, metrics.csv, charts/*.svg and *.png, report.html (self-contained, opens offline).\n' +
    'Progress goes to stderr. Scenarios ship in simulations/scenarios/.',
  positionals: [{ name: 'scenario', help: 'scenario file (YAML)', required: true }],
  flags: {
    mode: { type: 'string', help: 'where the sites run', default: 'in-process', choices: ['in-process', 'loopback'] },
    out: { type: 'string', help: 'output folder for the report', default: 'runs/sim-<name>', arg: 'DIR' },
    workers: { type: 'integer', help: 'in-process: worker threads hosting the sites (-1 = one per core, 0 = all in the main thread)', default: -1, min: -1 },
    concurrency: { type: 'integer', help: 'trainers at once in the main thread (FedAvg; sites when --workers 0); 0 = one per core', default: 0, min: 0 },
    'no-baselines': { type: 'boolean', help: 'skip the centralized and FedAvg baselines' },
    json: { type: 'boolean', help: 'print the report summary as JSON' },
  },
  examples: [
    'fedistill simulate simulations/scenarios/tiny.yaml',
    'fedistill simulate simulations/scenarios/dsfl-mnist-noniid.yaml --out runs/dsfl --json',
    'fedistill simulate simulations/scenarios/tiny.yaml --mode loopback',
  ],
  async run(args, io) {
    const file = args.positionals[0]!;
    const scenario = loadSimulationScenario(file);
    const out = String(args.flags.out).replace('<name>', scenario.name);
    const mode = String(args.flags.mode) as 'in-process' | 'loopback';
    const concurrency = Number(args.flags.concurrency) || undefined;
    const workers = Number(args.flags.workers);
    const stopReporting = reportInterruption(io, out, scenario.kind === 'federated', mode, !!args.flags.json);
    const result = await runSimulation(scenario, {
      mode, out, log: (l) => io.err(l), scenarioFile: file, ...(concurrency ? { concurrency } : {}), ...(workers >= 0 ? { workers } : {}),
      noBaselines: Boolean(args.flags['no-baselines']),
      command: `fedistill simulate ${file} --mode ${mode} --out ${out}`,
    }).finally(stopReporting);
    if ('pate' in result) {
      const p = result.pate as PateMnistResult; // the module's result, loaded on demand
      io.out(args.flags.json ? JSON.stringify(p) : pateSummary(p));
      return 0;
    }
    const r = result.report;
    if (args.flags.json) {
      io.out(JSON.stringify({ scenario: r.scenario.name, mode: r.scenario.mode, status: r.status, privacy: r.privacy, summary: r.summary, seconds: r.seconds, memory: r.memory, files: result.files }));
      return 0;
    }
    io.out([
      '',
      `Simulation "${r.scenario.name}" (${r.scenario.mode}): ${r.status}, ${r.rounds.length} rounds, ${r.scenario.sites} sites, ${r.seconds.total.toFixed(1)} s`,
      `  ${r.scenario.strategy.padEnd(12)} mean site accuracy ${pct(r.summary.mean_final_accuracy)}  bytes ${formatBytes(r.summary.total_bytes)}  ε = ${r.privacy.epsilon.toFixed(3)} at δ = ${r.privacy.delta} (${r.scenario.privacy_unit}-level)`,
      `  local-only   mean site accuracy ${pct(r.summary.mean_local_only_accuracy)}`
        + (r.summary.sites_in_means < r.scenario.sites ? `  (both means: the ${r.summary.sites_in_means} sites that did not crash)` : ''),
      `  FedAvg       accuracy ${pct(r.summary.fedavg_accuracy)}  bytes ${formatBytes(r.summary.fedavg_total_bytes)}`,
      `  centralized  accuracy ${pct(r.summary.centralized_accuracy)}`,
      `  ledger replay ε = ${r.privacy.ledger_replay_epsilon.toFixed(3)} (${r.privacy.replay_matches ? 'matches' : 'MISMATCH'})`,
      r.scenario.seeded_noise ? '  note: noise was seeded (privacy.test_noise_seed): reproducible but NOT private' : '',
      `report: ${result.files.html}`,
    ].filter((l) => l !== '').join('\n'));
    return 0;
  },
};
