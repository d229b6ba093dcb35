// Benchmark: DS-FL on Dirichlet(0.1) MNIST vs local-only and FedAvg (simulations/scenarios/dsfl-mnist-noniid.yaml).
// Usage: node --import tsx bench/simulate-dsfl.ts [--scenario FILE] [--out DIR]
// Checks: mean site accuracy ≥ local-only + 15 points, within 3 points of FedAvg, ≥ 10× fewer bytes than FedAvg.
import { loadScenario } from '../simulations/scenario.ts';
import { runSimulation, type SimulationResult } from '../simulations/run-simulation.ts';
import { benchArgs } from './bench-args.ts';

const { values } = benchArgs({
  name: 'simulate-dsfl',
  summary: `DS-FL on Dirichlet(0.1) MNIST vs local-only and FedAvg (docs/simulations.md). Progress on stderr; one JSON object with
the three checks: ≥ local-only + 15 points, within 3 points of FedAvg, ≥ 10× fewer bytes than FedAvg.`,
  options: {
    scenario: { kind: 'string', arg: 'FILE', default: 'simulations/scenarios/dsfl-mnist-noniid.yaml', help: 'simulation scenario' },
    out: { kind: 'string', arg: 'DIR', default: 'runs/bench-dsfl', help: 'output folder for report.html, the ledger and logs' },
  },
});
const file = values.scenario;
const out = values.out;

const r = (await runSimulation(loadScenario(file), { mode: 'in-process', out, scenarioFile: file, log: (l) => process.stderr.write(l + '\n') })) as SimulationResult;
const s = r.report.summary;
const pts = (v: number | null) => (v === null ? null : Math.round(v * 10000) / 100);
const dsfl = s.mean_final_accuracy ?? NaN;
const local = s.mean_local_only_accuracy ?? NaN;
const fedavg = s.fedavg_accuracy ?? NaN;
const bytesRatio = s.fedavg_total_bytes !== null ? s.fedavg_total_bytes / s.total_bytes : null;
console.log(JSON.stringify({
  bench: 'simulate-dsfl', scenario: file, seconds: r.report.seconds,
  accuracy: { dsfl_mean_site: pts(dsfl), local_only_mean_site: pts(local), fedavg: pts(fedavg), centralized: pts(s.centralized_accuracy) },
  bytes: { dsfl: s.total_bytes, fedavg: s.fedavg_total_bytes, fedavg_over_dsfl: bytesRatio },
  epsilon: r.report.privacy.epsilon, delta: r.report.privacy.delta, privacy_unit: r.report.scenario.privacy_unit,
  checks: {
    above_local_only_by_15_points: dsfl - local >= 0.15,
    within_3_points_of_fedavg: Math.abs(fedavg - dsfl) <= 0.03 || dsfl > fedavg,
    ten_times_fewer_bytes: bytesRatio !== null && bytesRatio >= 10,
  },
  report: r.files.html,
}));
