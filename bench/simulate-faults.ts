// Benchmark: faults — 30% per-round dropout, a disconnect, a site crash and an aggregator crash (faults-dropout.yaml).
// Usage: node --import tsx bench/simulate-faults.ts [--mode in-process|loopback] [--out DIR]
// Checks: the run completes, and its ε equals the accountant's replay of its ledger.
import { loadScenario } from '../simulations/scenario.ts';
import { runSimulation, type SimulationResult } from '../simulations/run-simulation.ts';
import { benchArgs } from './bench-args.ts';

const { values } = benchArgs({
  name: 'simulate-faults',
  summary: `Faults: 30% per-round dropout, a disconnect, a site crash and an aggregator crash (faults-dropout.yaml; docs/simulations.md).
Progress on stderr; one JSON object whose checks say the run completed and its ε equals the replay of its ledger.`,
  options: {
    mode: { kind: 'string', choices: ['in-process', 'loopback'], default: 'in-process', help: 'sites in this process, or as processes on loopback websockets' },
    out: { kind: 'string', arg: 'DIR', defaultHelp: 'runs/bench-faults-MODE', help: 'output folder for report.html, the ledger and logs' },
  },
});
const file = 'simulations/scenarios/faults-dropout.yaml';
const mode = values.mode;
const out = values.out ?? `runs/bench-faults-${mode}`;
const scenario = loadScenario(file);
// loopback site processes accept only the reference models
if (mode === 'loopback') scenario.sites.models = ['mlp'];

const r = (await runSimulation(scenario, { mode, out, scenarioFile: file, log: (l) => process.stderr.write(l + '\n') })) as SimulationResult;
const rep = r.report;
const count = (k: string) => rep.faults.filter((f) => f.fault === k).length;
console.log(JSON.stringify({
  bench: 'simulate-faults', mode, seconds: rep.seconds.total, status: rep.status, rounds: rep.rounds.length,
  dropout_rate: scenario.faults.dropout, dropouts: count('dropout'), disconnects: count('disconnect'), crashes: count('crash'),
  aggregator_restarts: rep.aggregator_restarts,
  participants_per_round: rep.rounds.map((x) => x.participants),
  epsilon: rep.privacy.epsilon, ledger_replay_epsilon: rep.privacy.ledger_replay_epsilon, ledger_events: rep.privacy.ledger_events,
  checks: { completed: rep.status === 'complete' && rep.rounds.length === scenario.rounds, epsilon_equals_replay: rep.privacy.replay_matches },
  report: r.files.html,
}));
