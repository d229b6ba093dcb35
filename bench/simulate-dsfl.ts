// Benchmark: DS-FL on Dirichlet(0.1) MNIST vs local-only and FedAvg (simulations/scenarios/dsfl-mnist-noniid.yaml).
// Usage: node --import tsx bench/simulate-dsfl.ts [--scenario FILE] [--out DIR]
// Checks: mean site accuracy ≥ local-only + 15 points, within 3 points of FedAvg, ≥ 10× fewer bytes than FedAvg.
import { loadScenario } from '../simulations/scenario.ts';
import { runSimulation, type SimulationResult } from '../simulations/run-simulation.ts';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1]! : dflt; };
const file = flag('scenario', 'simulations/scenarios/dsfl-mnist-noniid.yaml');
const out = flag('out', 'runs/bench-dsfl');

const r = (await runSimulation(loadScenario(file), { mode: 'in-process', out, scenarioFile: file, log: (l) => process.stderr.write(l + '\n') })) as SimulationResult;
const s = r.report.summary;
const pts = (v: number | null) => (v === null ? null : Math.round(v * 10000) / 100);
const dsfl = s.meanFinalAccuracy ?? NaN;
const local = s.meanLocalOnlyAccuracy ?? NaN;
const fedavg = s.fedavgAccuracy ?? NaN;
const bytesRatio = s.fedavgTotalBytes !== null ? s.fedavgTotalBytes / s.totalBytes : null;
console.log(JSON.stringify({
  bench: 'simulate-dsfl', scenario: file, seconds: r.report.seconds,
  accuracy: { dsflMeanSite: pts(dsfl), localOnlyMeanSite: pts(local), fedavg: pts(fedavg), centralized: pts(s.centralizedAccuracy) },
  bytes: { dsfl: s.totalBytes, fedavg: s.fedavgTotalBytes, fedavgOverDsfl: bytesRatio },
  epsilon: r.report.privacy.epsilon, delta: r.report.privacy.delta, privacyUnit: r.report.scenario.privacyUnit,
  checks: {
    aboveLocalOnlyBy15Points: dsfl - local >= 0.15,
    within3PointsOfFedavg: Math.abs(fedavg - dsfl) <= 0.03 || dsfl > fedavg,
    tenTimesFewerBytes: bytesRatio !== null && bytesRatio >= 10,
  },
  report: r.files.html,
}));
