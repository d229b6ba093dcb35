// `fedistill start` (npm start): the main job — a real federated distillation run on MNIST with
// an aggregator and 5 sites as separate processes on loopback, then a readable summary.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CliIO, CommandSpec } from '../parse.ts';
import { DeploymentStop, runLocalDeployment } from '../../simulations/local-deployment.ts';
import { encodePublicKey, readIdentityFile } from '../../shared/crypto/identity.ts';
import { FedistillError } from '../../shared/util/errors.ts';
import { errorJson } from '../error-json.ts';
import { signalExitCode } from '../../shared/util/signal-exit.ts';

const PUBLIC = 'mnist:test[0:5000]';
const EVAL = 'mnist:test[5000:10000]';
/** Teachers per site, on disjoint shards of its data (example-level privacy); the run pins the same number. */
const TEACHERS = 10;

/** What runLocalDeployment reports, as far as the summary reads it (the `server --json` and `client --json` objects). */
interface DeploymentOutcome {
  aggregator: { summary: any };
  sites: { summary: any }[];
  database: string;
  dir: string;
}

/**
 * The run's summary, the same for the table and for --json: the aggregator's public key and each
 * site's ledger are in it, so a script can run the `audit verify --public-key` and `audit compare`
 * that the table points to without reading the key file itself.
 */
export function startSummary(res: DeploymentOutcome, aggregatorPublicKey: string, seconds: number) {
  const agg = res.aggregator.summary;
  const sites = res.sites.map((s) => {
    const r = s.summary;
    const bytes = agg.bytes?.[r.site] ?? { sent: 0, received: 0 };
    return {
      site: r.site as string, before: r.baseline_accuracy as number | undefined, after: r.final_accuracy as number | undefined,
      own_epsilon: r.ledger_epsilon as number, bytes_sent: bytes.received as number, bytes_received: bytes.sent as number,
      student: r.student_out as string | undefined, ledger: r.ledger as string | undefined,
    };
  });
  return {
    run: agg.run_id as string, status: agg.status as string, rounds: agg.rounds.length as number, epsilon: agg.epsilon as number, delta: agg.delta as number,
    privacy_unit: `example (${TEACHERS} teachers per site on disjoint shards)`, sites,
    database: res.database, dir: res.dir, aggregator_public_key: aggregatorPublicKey, seconds,
  };
}

/**
 * Ctrl-C (or SIGTERM) during `fedistill start`. The processes it spawned are its own: the first
 * signal asks the aggregator and the sites to stop as their own Ctrl-C would (the aggregator after
 * its current step) and the command waits for them, a bounded wait (DeploymentStop); a second
 * signal kills them at once. Either way none is left holding the port or the database lock.
 * Returns the signal received so far and the function that removes the handlers.
 */
function stopOnSignal(io: CliIO, stop: DeploymentStop): { received: () => NodeJS.Signals | undefined; remove: () => void } {
  let received: NodeJS.Signals | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (received) {
      io.err(`fedistill start: ${signal} again: killing the aggregator and the sites now`);
      stop.stop(true);
      return;
    }
    received = signal;
    io.err(`fedistill start: ${signal}: stopping the aggregator after its current step, and the sites (press Ctrl-C again to kill them at once)`);
    stop.stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return { received: () => received, remove: () => { process.off('SIGINT', handler); process.off('SIGTERM', handler); } };
}

/**
 * The end of an interrupted `start`, as `simulate` ends one: one line (the --json error object
 * too) saying what was kept and how to finish the run, and the signal's status (130 / 143).
 */
function reportInterruption(io: CliIO, signal: NodeJS.Signals, stopped: string, dir: string, sites: number, json: boolean): number {
  const db = join(dir, 'fedistill.db');
  const kept = existsSync(db)
    ? `kept ${dir} (keys, configs, site ledgers) and its database ${db} with the rounds finished so far (fedistill audit report ${db})`
    : `kept ${dir} (keys and configs)`;
  const message = `interrupted (${signal}): ${stopped}; ${kept}; to finish this run, start its processes again: fedistill server --config ${join(dir, 'run.yaml')}, and fedistill client --config ${join(dir, 'site-N.yaml')} for N = 1..${sites} (docs/runs.md); or run fedistill start again for a new run`;
  const exitCode = signalExitCode(signal);
  io.err(`fedistill start: ${message} [E_INTERRUPTED]`);
  // --json promises one object on stdout, also when the run is stopped
  if (json) io.out(errorJson('fedistill start', 'E_INTERRUPTED', message, exitCode));
  return exitCode;
}

export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'run the main demo: a federated distillation run on MNIST (what `npm start` runs)',
  description:
    'Runs a complete federated distillation on one machine: an aggregator and 5 sites (--sites) as separate\n' +
    'processes talking over authenticated, encrypted websockets on loopback, with the aggregator\'s\n' +
    'state in SQLite. MNIST train is split over the sites with Dirichlet(0.5) label skew; each site\n' +
    'trains 10 teachers on disjoint shards (example-level privacy unit) and a student. Each round\n' +
    'the aggregator asks for soft labels on public samples (mnist:test[0:5000]), adds Gaussian noise\n' +
    'to their clipped sum (DS-FL with entropy reduction), charges the privacy ledger, and sends the\n' +
    'consensus back; students distill from it. Accuracy is measured on mnist:test[5000:10000].',
  flags: {
    dir: { type: 'string', help: 'output folder (keys, configs, database, ledgers, students)', default: `runs/start-<time>`, arg: 'DIR' },
    rounds: { type: 'integer', help: 'rounds', default: 5, min: 1 },
    sites: { type: 'integer', help: 'number of sites', default: 5, min: 1 },
    json: { type: 'boolean', help: 'print the summary as JSON' },
  },
  examples: ['fedistill start', 'fedistill start --rounds 2 --sites 3 --dir runs/quick --json'],
  async run(args, io) {
    const dir = String(args.flags.dir).replace('<time>', new Date().toISOString().replace(/[:.]/g, '-'));
    const sites = Number(args.flags.sites);
    const rounds = Number(args.flags.rounds);
    // a folder that already holds a run keeps it: its keys are never overwritten
    if (existsSync(join(dir, 'keys', 'aggregator.key'))) {
      throw new FedistillError('E_FILE_EXISTS', `--dir ${dir} already holds a run (${join(dir, 'keys', 'aggregator.key')}); choose another --dir (or leave it out for runs/start-<time>), or continue that run with fedistill server --config ${join(dir, 'run.yaml')} and its sites (docs/runs.md)`);
    }
    const t0 = Date.now();
    io.err(`fedistill start: ${sites} sites + aggregator on loopback, ${rounds} rounds of DS-FL on MNIST; files in ${dir}`);
    const stop = new DeploymentStop();
    const signals = stopOnSignal(io, stop);
    const res = await runLocalDeployment({
      dir, runId: 'start', sites,
      run: {
        public_set: PUBLIC,
        strategy: { name: 'dsfl', queries_per_round: 300, entropy_reduction_temperature: 0.1 },
        privacy: { clip: 1, noise_multiplier: 12, epsilon: 40, delta: 1e-5, teachers_per_site: TEACHERS },
        rounds, quorum: sites, min_sites: sites, seed: 1, round_timeout_s: 600,
      },
      site: {
        public_set: PUBLIC, eval_set: EVAL, model: 'mlp', teachers: TEACHERS, threads: 1,
        local: { epochs: 2, batch: 64, lr: 1e-3, optimizer: 'adam' },
        digest: { epochs: 3, revisit_epochs: 0, temperature: 1 },
        // one operator runs every site here, so sites report their accuracy to the aggregator's log
        policy: { share_metrics: true },
      },
      perSite: (i) => ({ seed: i + 1, data: { dataset: 'mnist:train', partition: { scheme: 'dirichlet', alpha: 0.5, clients: sites, index: i, seed: 1 } } }),
    }, (line) => io.err(line), stop).catch((e) => {
      const signal = signals.received();
      if (signal && e instanceof FedistillError && e.code === 'E_INTERRUPTED') return reportInterruption(io, signal, e.message, resolve(dir), sites, !!args.flags.json);
      throw e;
    }).finally(signals.remove);
    if (typeof res === 'number') return res;
    const aggregatorKey = encodePublicKey(readIdentityFile(join(res.dir, 'keys', 'aggregator.key')).publicKey);
    const summary = startSummary(res, aggregatorKey, (Date.now() - t0) / 1000);
    const rows = summary.sites;
    if (args.flags.json) { io.out(JSON.stringify(summary)); return 0; }
    const pct = (v: number | undefined) => (v === undefined ? '   n/a' : (100 * v).toFixed(2).padStart(6));
    const kb = (v: number) => `${(v / 1024).toFixed(0)} KiB`.padStart(10);
    const lines = [
      '',
      `Run "${summary.run}" ${summary.status} after ${summary.rounds} rounds in ${summary.seconds.toFixed(0)} s`,
      `Privacy: ε = ${summary.epsilon.toFixed(3)} at δ = ${summary.delta} (aggregator ledger, ${summary.privacy_unit})`,
      '',
      'site      accuracy before → after   own ε bound   sent to aggregator   received',
      ...rows.map((r) => `${r.site.padEnd(9)} ${pct(r.before)}% → ${pct(r.after)}%      ${r.own_epsilon.toFixed(3).padStart(8)}   ${kb(r.bytes_sent)}           ${kb(r.bytes_received)}`),
      '',
      `database:  ${summary.database}`,
      `           check it: npx fedistill audit verify ${summary.database} --run ${summary.run} --public-key ${aggregatorKey}`,
      `           (an auditor pins the aggregator's public key, obtained out of band: docs/audit.md)`,
      `students:  ${join(summary.dir, 'site-N-student.onnx')}`,
      `ledgers:   ${join(summary.dir, 'site-N.ledger.jsonl')}`,
    ];
    io.out(lines.join('\n'));
    return 0;
  },
};
