// Benchmark: in-process simulation at scale — 100 sites × 20 rounds of a small MLP, or 1,000 sites × 2 rounds of tiny models.
// Usage: node --import tsx bench/simulate-scale.ts [--sites 100] [--rounds 20] [--model mlp-small] [--concurrency N]
//        node --import tsx bench/simulate-scale.ts --sites 1000 --rounds 2 --model logreg
// Prints one JSON object: wall time, peak memory (RSS) and the run's figures.
import { availableParallelism } from 'node:os';
import { validateScenario } from '../simulations/scenario.ts';
import { runSimulation, type SimulationResult } from '../simulations/run-simulation.ts';
import { benchArgs } from './bench-args.ts';

const { values } = benchArgs({
  name: 'simulate-scale',
  summary: `In-process simulation at scale: 100 sites × 20 rounds of a small MLP, or 1,000 sites × 2 rounds of tiny models
(--sites 1000 --rounds 2 --model logreg). Progress on stderr; one JSON object: wall time, peak RSS and the run's figures.`,
  options: {
    sites: { kind: 'integer', arg: 'N', default: 100, help: 'simulated sites' },
    rounds: { kind: 'integer', arg: 'R', default: 20, help: 'rounds' },
    model: { kind: 'string', arg: 'MODEL', defaultHelp: 'mlp-small, logreg from 500 sites', help: "the sites' model" },
    concurrency: { kind: 'integer', arg: 'N', defaultHelp: 'all cores', help: 'sites training at once' },
    out: { kind: 'string', arg: 'DIR', defaultHelp: 'runs/bench-scale-SITESxROUNDS', help: 'output folder for report.html, the ledger and logs' },
  },
});
const sites = values.sites;
const rounds = values.rounds;
const model = values.model ?? (sites >= 500 ? 'logreg' : 'mlp-small');
const concurrency = values.concurrency ?? availableParallelism();
const out = values.out ?? `runs/bench-scale-${sites}x${rounds}`;

const perSite = Math.floor(60000 / sites);
const scenario = validateScenario({
  name: `scale-${sites}x${rounds}`, seed: 1, rounds,
  data: { dataset: 'mnist:train', public_set: 'mnist:test[0:2000]', eval_set: sites >= 500 ? 'mnist:test[9000:9200]' : 'mnist:test[9000:10000]', partition: { scheme: 'dirichlet', alpha: 0.5 } },
  sites: {
    count: sites, model,
    local: { epochs: 1, batch: 32, lr: 0.003, optimizer: 'adam' },
    digest: { epochs: 1, revisit_epochs: 0, private_mix: Math.min(200, perSite), temperature: 1 },
  },
  strategy: { name: 'dsfl', queries_per_round: sites >= 500 ? 100 : 200 },
  privacy: { unit: 'site', clip: 1, noise_multiplier: 2, epsilon: 1e6 },
  quorum: Math.ceil(sites / 2),
  round_timeout_s: 900,
  baselines: { centralized: false, fedavg: false },
});

const t0 = Date.now();
const r = (await runSimulation(scenario, { mode: 'in-process', out, concurrency, noBaselines: true, log: (l) => process.stderr.write(l + '\n') })) as SimulationResult;
const rep = r.report;
console.log(JSON.stringify({
  bench: 'simulate-scale', sites, rounds, model, private_samples_per_site: perSite, concurrency, cores: availableParallelism(),
  seconds: { total: (Date.now() - t0) / 1000, local_training: rep.seconds.prepare, rounds: rep.seconds.rounds },
  peak_rss_mib: rep.memory.peak_rss_mib,
  status: rep.status, rounds_completed: rep.rounds.length,
  mean_local_only_accuracy: rep.summary.mean_local_only_accuracy, mean_final_accuracy: rep.summary.mean_final_accuracy,
  epsilon: rep.privacy.epsilon, replay_matches: rep.privacy.replay_matches, total_bytes: rep.summary.total_bytes,
  report: r.files.html,
}));
