// Federated DS-FL under strong label skew: sites as processes on loopback (real secure websockets,
// SQLite), Dirichlet(α) over MNIST train; prints each site's local-only and final accuracy, ε and bytes.
// Usage: node --import tsx bench/federated-noniid.ts [--sites 10] [--rounds 10] [--alpha 0.1] [--dir DIR]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocalDeployment } from '../simulations/local-deployment.ts';
import { buildModel, parameterCount } from '../shared/ml/index.ts';
import { benchArgs } from './bench-args.ts';

const { values } = benchArgs({
  name: 'federated-noniid',
  summary: `Federated DS-FL under strong label skew: site processes on loopback (real secure websockets, SQLite), Dirichlet(α)
over MNIST train. Progress on stderr; one JSON object: each site's local-only and final accuracy, ε, bytes vs FedAvg.`,
  options: {
    sites: { kind: 'integer', arg: 'N', default: 10, help: 'site processes' },
    rounds: { kind: 'integer', arg: 'R', default: 10, help: 'rounds' },
    alpha: { kind: 'number', arg: 'A', default: 0.1, above: 0, help: 'Dirichlet concentration of the label skew (smaller: more skewed)' },
    queries: { kind: 'integer', arg: 'N', default: 200, help: 'public samples queried per round' },
    noise: { kind: 'number', arg: 'SIGMA', default: 20, min: 0, help: 'central Gaussian noise multiplier' },
    teachers: { kind: 'integer', arg: 'N', default: 10, help: 'teachers per site (example-level privacy unit)' },
    dir: { kind: 'string', arg: 'DIR', defaultHelp: 'a new folder under the system temp folder', help: 'where the run writes its databases, keys and logs' },
  },
});
const sites = values.sites;
const rounds = values.rounds;
const queries = values.queries;
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'fedistill-noniid-'));
const t0 = Date.now();
const res = await runLocalDeployment({
  dir, runId: 'noniid', sites,
  run: {
    public_set: 'mnist:test[0:5000]',
    strategy: { name: 'dsfl', queries_per_round: queries, entropy_reduction_temperature: 0.1 },
    privacy: { clip: 1, noise_multiplier: values.noise, epsilon: 30, delta: 1e-5, teachers_per_site: values.teachers },
    rounds, quorum: sites, min_sites: sites, seed: 1, round_timeout_s: 1200, join_timeout_s: 3600,
  },
  site: {
    public_set: 'mnist:test[0:5000]', eval_set: 'mnist:test[5000:10000]', model: 'mlp', teachers: values.teachers, threads: 1,
    local: { epochs: 2, batch: 64, lr: 1e-3, optimizer: 'adam' }, digest: { epochs: 3, revisit_epochs: 0 },
  },
  perSite: (i) => ({ seed: i + 1, data: { dataset: 'mnist:train', partition: { scheme: 'dirichlet', alpha: values.alpha, clients: sites, index: i, seed: 1 } } }),
}, (line) => process.stderr.write(line + '\n'));
const agg = res.aggregator.summary;
const paramBytes = parameterCount(buildModel('mlp', { seed: 0 })) * 4;
const table = res.sites.map((s) => {
  const r = s.summary;
  const b = agg.bytes[r.site] ?? { sent: 0, received: 0 };
  // `fedistill client --json` (snake_case keys)
  return { site: r.site, local_only: r.baseline_accuracy, final: r.final_accuracy, gain_points: 100 * (r.final_accuracy - r.baseline_accuracy), own_epsilon: r.ledger_epsilon, bytes_per_round: (b.sent + b.received) / rounds };
});
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const bytesPerRound = mean(table.map((t) => t.bytes_per_round));
console.log(JSON.stringify({
  bench: 'federated-noniid', sites, rounds, alpha: values.alpha, strategy: 'dsfl + central gaussian', queries_per_round: queries,
  noise_multiplier: values.noise, teachers_per_site: values.teachers, privacy_unit: 'example (teacher shards)',
  epsilon: agg.epsilon, delta: agg.delta, budget_epsilon: 30, status: agg.status,
  mean_local_only: mean(table.map((t) => t.local_only)), mean_final: mean(table.map((t) => t.final)),
  mean_gain_points: mean(table.map((t) => t.gain_points)),
  bytes_per_site_per_round: Math.round(bytesPerRound), student_parameter_bytes: paramBytes,
  fedavg_bytes_per_site_per_round: 2 * paramBytes, ratio_fedavg_to_distillation: Number(((2 * paramBytes) / bytesPerRound).toFixed(1)),
  seconds: (Date.now() - t0) / 1000, dir, table,
}));
