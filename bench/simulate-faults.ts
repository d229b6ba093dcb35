// Benchmark: faults — 30% per-round dropout, a disconnect, a site crash and an aggregator crash (faults-dropout.yaml).
// Usage: node --import tsx bench/simulate-faults.ts [--mode in-process|loopback] [--out DIR]
// Checks: the run completes, and its ε equals the accountant's replay of its ledger.
import { loadScenario } from '../simulations/scenario.ts';
import { runSimulation, type SimulationResult } from '../simulations/run-simulation.ts';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1]! : dflt; };
const file = 'simulations/scenarios/faults-dropout.yaml';
const mode = flag('mode', 'in-process') as 'in-process' | 'loopback';
const out = flag('out', `runs/bench-faults-${mode}`);
const scenario = loadScenario(file);
// loopback site processes accept only the reference models
if (mode === 'loopback') scenario.sites.models = ['mlp'];

const r = (await runSimulation(scenario, { mode, out, scenarioFile: file, log: (l) => process.stderr.write(l + '\n') })) as SimulationResult;
const rep = r.report;
const count = (k: string) => rep.faults.filter((f) => f.fault === k).length;
console.log(JSON.stringify({
  bench: 'simulate-faults', mode, seconds: rep.seconds.total, status: rep.status, rounds: rep.rounds.length,
  dropoutRate: scenario.faults.dropout, dropouts: count('dropout'), disconnects: count('disconnect'), crashes: count('crash'),
  aggregatorRestarts: rep.aggregatorRestarts,
  participantsPerRound: rep.rounds.map((x) => x.participants),
  epsilon: rep.privacy.epsilon, ledgerReplayEpsilon: rep.privacy.ledgerReplayEpsilon, ledgerEvents: rep.privacy.ledgerEvents,
  checks: { completed: rep.status === 'complete' && rep.rounds.length === scenario.rounds, epsilonEqualsReplay: rep.privacy.replayMatches },
  report: r.files.html,
}));
