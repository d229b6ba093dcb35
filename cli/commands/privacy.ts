// `fedistill privacy`: ε of an event list, PATE cost of a vote file, noise calibration — numbers an auditor can replay.
import type { CliIO, CommandSpec, FlagValues } from '../parse.ts';
import { FedistillError, UsageError } from '../../shared/util/errors.ts';
import { type BoundedRead, readFileUpTo } from '../../shared/util/bounded-read.ts';
import { validatePrivacyEventList } from '../../shared/privacy/events.ts';
import { parseOrders } from '../../shared/privacy/orders.ts';
import { epsilonFromEvents } from '../../shared/privacy/rdp-accountant.ts';
import type { RdpConversion } from '../../shared/privacy/rdp-conversion.ts';
import {
  type PateCostMode, type PateQuery, analyzeConfidentGnmax, defaultPateCostMode, publicReleaseOrder, releaseSmoothSensitivityEpsilon,
} from '../../shared/privacy/pate-accounting.ts';
import { calibrateNoise } from '../../shared/privacy/calibrate.ts';
import { CryptoRng } from '../../shared/privacy/rng.ts';
import { maxVote } from '../../shared/privacy/pate-analysis.ts';
import { loadRunConfig } from '../../server/run-config.ts';
import { describePlan, describeSitesPlan, planRun, planSites, readSiteScopeStates } from '../../server/run-plan.ts';
import { loadAllowlist } from '../../shared/crypto/allowlist.ts';
import { loadDataset } from '../../shared/data/catalog.ts';

/**
 * Largest --events, --votes or --events-template file read (64 MiB). Real ones are far smaller: the
 * events of a whole run are a few KiB (one event per release), and vote histograms for a whole
 * MNIST test set (10,000 queries, 10 classes, with answered flags) about 0.5 MB. 64 MiB still
 * holds 2.8 million ten-class histograms, and JSON.parse keeps about 7 times the text in memory
 * (430 MiB of heap for 64 MiB of votes): much more would approach Node's default heap limit and
 * end in an out-of-memory crash instead of an error.
 */
export const MAX_PRIVACY_INPUT_BYTES = 64 * 2 ** 20;

/**
 * Reads a JSON input file of the privacy commands. A regular file of at most
 * MAX_PRIVACY_INPUT_BYTES, opened non-blocking: a FIFO with no writer, a device (/dev/zero) or a
 * socket is refused at once, and a larger file from its size before a byte is read, all as a file
 * that cannot be read (E_FILE_NOT_FOUND); a file that is read but is not JSON is E_BAD_JSON.
 */
function readJsonFile(path: string, flag: string): unknown {
  let got: BoundedRead;
  try { got = readFileUpTo(path, MAX_PRIVACY_INPUT_BYTES, { regularOnly: true }); } catch (e) {
    throw new FedistillError('E_FILE_NOT_FOUND', `${flag}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); check the path`);
  }
  if (!got.ok && got.why === 'not_a_file') throw new FedistillError('E_FILE_NOT_FOUND', `${flag}: cannot read ${path}: not a regular file (a pipe, socket or device); write it to a file and pass that file's path`);
  if (!got.ok) {
    throw new FedistillError('E_FILE_NOT_FOUND', `${flag}: ${path} is ${got.size !== undefined ? `${got.size} bytes` : `over ${MAX_PRIVACY_INPUT_BYTES} bytes`}, more than the ${MAX_PRIVACY_INPUT_BYTES} (64 MiB) a privacy input file may hold; it was not read: is this the right file?`);
  }
  const text = got.bytes.toString('utf8');
  try { return JSON.parse(text); } catch (e) {
    throw new FedistillError('E_BAD_JSON', `${flag}: ${path} is not valid JSON (${(e as Error).message})`);
  }
}

const commonFlags = {
  delta: { type: 'number', help: 'target δ, in (0, 1)', required: true, arg: 'D' },
  conversion: { type: 'string', help: 'RDP → (ε, δ) conversion', choices: ['improved', 'classic'], default: 'improved' },
  orders: { type: 'string', help: 'Rényi orders: dp-accounting, pate2018, or a list like 2,4,8,inf', default: 'dp-accounting', arg: 'ORDERS' },
  json: { type: 'boolean', help: 'print machine-readable JSON' },
} as const;

function checkDelta(d: number): void {
  if (!(d > 0 && d < 1)) throw new UsageError(`--delta must be in (0, 1), got ${d}`, 'E_INVALID_DELTA');
}

function accountingOptions(flags: FlagValues): { orders: number[]; conversion: RdpConversion } {
  return { orders: parseOrders(String(flags.orders)), conversion: flags.conversion as RdpConversion };
}

function print(io: CliIO, json: boolean, obj: Record<string, unknown>, human: string[]): number {
  if (json) io.out(JSON.stringify(obj));
  else for (const l of human) io.out(l);
  return 0;
}

const epsilonCommand: CommandSpec = {
  name: 'epsilon',
  summary: 'ε of a list of privacy events at a δ',
  description:
    'Composes the privacy events in FILE (a JSON array of events, each with an optional count;\n' +
    'schema in docs/privacy.md) with the RDP accountant and converts to (ε, δ).',
  flags: { events: { type: 'string', help: 'JSON file of privacy events', required: true, arg: 'FILE' }, ...commonFlags },
  examples: ['fedistill privacy epsilon --events dpsgd.json --delta 1e-5 --json'],
  run(args, io) {
    const delta = args.flags.delta as number;
    checkDelta(delta);
    const events = validatePrivacyEventList(readJsonFile(String(args.flags.events), '--events'), 'events');
    const opts = accountingOptions(args.flags);
    const r = epsilonFromEvents(events, delta, opts);
    return print(io, Boolean(args.flags.json), { epsilon: r.epsilon, order: r.order, delta, conversion: opts.conversion },
      [`ε = ${r.epsilon} at δ = ${delta} (order ${r.order}, ${opts.conversion} conversion, ${events.length} events)`]);
  },
};

/** Reads a votes file: an array of vote arrays, or of {votes, answered} objects. */
function readQueries(path: string): PateQuery[] {
  const json = readJsonFile(path, '--votes');
  if (!Array.isArray(json)) throw new UsageError('--votes: the file must hold a JSON array of vote-count arrays', 'E_INVALID_VOTES');
  return json.map((item, i) => {
    const isObj = item !== null && typeof item === 'object' && !Array.isArray(item);
    const votes = isObj ? (item as Record<string, unknown>).votes : item;
    const field = isObj ? `votes[${i}].votes` : `votes[${i}]`;
    if (!Array.isArray(votes) || votes.length < 2) throw new UsageError(`${field}: must be an array of at least 2 vote counts`, 'E_INVALID_VOTES');
    votes.forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new UsageError(`${field}[${j}]: votes must be finite numbers ≥ 0, got ${JSON.stringify(v)}`, 'E_INVALID_VOTES');
      }
    });
    const q: PateQuery = { votes: votes as number[] };
    if (isObj && (item as Record<string, unknown>).answered !== undefined) {
      const a = (item as Record<string, unknown>).answered;
      if (typeof a !== 'boolean') throw new UsageError(`votes[${i}].answered: must be true or false`, 'E_INVALID_VOTES');
      q.answered = a;
    }
    return q;
  });
}

const pateCommand: CommandSpec = {
  name: 'pate',
  summary: 'privacy cost of Confident-GNMax on a file of teacher vote histograms',
  description:
    'Data-dependent PATE analysis (Papernot et al. 2018) of Confident-GNMax: threshold step\n' +
    '(σ1, T) for every query, GNMax (σ2) for answered ones. --cost realized (the default when the\n' +
    'file marks entries {"votes": [...], "answered": true|false}) charges GNMax for answered queries\n' +
    'only; entries without the flag are then answered by simulating the threshold with cryptographic\n' +
    'noise. --cost expected (the default for plain arrays) weights GNMax by P[answered], as the\n' +
    'paper\'s tables do: a paper-comparable expectation, not a guarantee. The data-independent bound\n' +
    'uses only the answered flags (public outputs), or charges every query GNMax when there are none.\n' +
    'The paper\'s own setting is --conversion classic --orders pate2018. A data-dependent ε is itself\n' +
    'sensitive: publish it through --smooth-sensitivity (an estimate and a high-probability upper\n' +
    'bound at δ + γ), or publish only the bound of --data-independent-only.',
  flags: {
    votes: { type: 'string', help: 'JSON array of vote-count arrays (or {votes, answered} objects)', required: true, arg: 'FILE' },
    threshold: { type: 'number', help: 'threshold T of the confidence check', required: true, arg: 'T' },
    sigma1: { type: 'number', help: 'σ1, noise of the threshold step', required: true, arg: 'S1' },
    sigma2: { type: 'number', help: 'σ2, noise of GNMax', required: true, arg: 'S2' },
    cost: { type: 'string', help: 'cost mode (auto: realized when the file has answered flags, else expected)', choices: ['auto', 'expected', 'realized'], default: 'auto' },
    'data-independent-only': { type: 'boolean', help: 'publish only the data-independent bound' },
    'smooth-sensitivity': { type: 'boolean', help: 'also release the data-dependent ε through smooth-sensitivity noise (realized cost)' },
    'ss-order': { type: 'number', help: 'Rényi order λ of the release; fix it before seeing the votes', arg: 'L', above: 1, defaultHelp: 'the optimum order of the data-independent bound' },
    'sigma-ss': { type: 'number', help: 'σ_ss, std of the release noise in units of the smooth sensitivity', arg: 'S', above: 0, defaultHelp: 'σ2' },
    'ss-gamma': { type: 'number', help: 'failure probability γ of the upper bound (reported at δ + γ)', arg: 'G', above: 0, defaultHelp: 'δ' },
    'num-teachers': { type: 'integer', help: 'number of teachers (required with --smooth-sensitivity: a count read off the votes would depend on them when teachers abstain)', arg: 'N', min: 1 },
    ...commonFlags,
  },
  examples: [
    'fedistill privacy pate --votes answered.json --threshold 200 --sigma1 150 --sigma2 40 --delta 1e-5 --data-independent-only --json',
    'fedistill privacy pate --votes answered.json --threshold 200 --sigma1 150 --sigma2 40 --delta 1e-5 --smooth-sensitivity --num-teachers 250 --json',
    'fedistill privacy pate --votes votes.json --threshold 200 --sigma1 150 --sigma2 40 --delta 1e-5 --cost expected --conversion classic --orders pate2018',
  ],
  run(args, io) {
    const f = args.flags;
    const delta = f.delta as number;
    checkDelta(delta);
    const params = { threshold: f.threshold as number, sigma1: f.sigma1 as number, sigma2: f.sigma2 as number };
    if (!(params.sigma1 > 0)) throw new UsageError(`--sigma1 must be > 0, got ${params.sigma1}`, 'E_INVALID_PARAMETER');
    if (!(params.sigma2 > 0)) throw new UsageError(`--sigma2 must be > 0, got ${params.sigma2}`, 'E_INVALID_PARAMETER');
    const queries = readQueries(String(f.votes));
    // as the library decides it: realized only when every entry says whether it was answered
    const cost: PateCostMode = f.cost === 'auto' ? defaultPateCostMode(queries) : f.cost as PateCostMode;
    let answeredSource: string | undefined;
    const needAnswered = cost === 'realized' || f['smooth-sensitivity'];
    if (needAnswered && queries.some((q) => q.answered === undefined)) {
      const rng = new CryptoRng();
      for (const q of queries) if (q.answered === undefined) q.answered = maxVote(q.votes) + rng.gaussian(params.sigma1) >= params.threshold;
      answeredSource = 'simulated';
      io.err('privacy pate: entries without "answered" were answered by simulating the threshold step (cryptographic noise); results vary run to run');
    }
    const opts = accountingOptions(f);
    const r = analyzeConfidentGnmax(queries, params, { delta, cost, ...opts });
    const basis = r.data_independent_basis === 'worst-case' ? 'every query, the worst case' : `the ${r.answered} answered of ${r.queries}`;
    if (f['data-independent-only']) {
      const out: Record<string, unknown> = {
        queries: r.queries, epsilon: r.epsilon_data_independent, order: r.order_data_independent, epsilon_data_independent: r.epsilon_data_independent,
        data_independent_basis: r.data_independent_basis, published: 'data-independent', cost, conversion: opts.conversion,
      };
      if (r.answered !== undefined) out.answered = r.answered;
      return print(io, Boolean(f.json), out, [`data-independent ε = ${r.epsilon_data_independent} at δ = ${delta} (order ${r.order_data_independent}), ${r.queries} queries, GNMax charged for ${basis}`]);
    }
    const out: Record<string, unknown> = {
      queries: r.queries, expected_answered: r.expected_answered, epsilon: r.epsilon, order: r.order,
      epsilon_kind: cost, epsilon_note: r.epsilon_note,
      epsilon_data_independent: r.epsilon_data_independent, order_data_independent: r.order_data_independent, data_independent_basis: r.data_independent_basis,
      epsilon_data_independent_worst_case: r.epsilon_data_independent_worst_case, cost, conversion: opts.conversion,
    };
    if (r.answered !== undefined) out.answered = r.answered;
    if (answeredSource) out.answered_source = answeredSource;
    const human = [
      `queries: ${r.queries}, expected answered: ${r.expected_answered.toFixed(1)}${r.answered !== undefined ? `, answered: ${r.answered}` : ''}`,
      `data-dependent ε = ${r.epsilon} at δ = ${delta} (order ${r.order}, ${cost} cost, ${opts.conversion} conversion): ${r.epsilon_note}`,
      `data-independent ε = ${r.epsilon_data_independent} (order ${r.order_data_independent}, GNMax charged for ${basis}): vote-free; with answered flags a guarantee against a budget fixed in advance, else the worst case`,
    ];
    if (f['smooth-sensitivity']) {
      if (f['num-teachers'] === undefined) throw new UsageError('--smooth-sensitivity needs --num-teachers N (the run\'s public teacher count; a count read off the votes would depend on them)');
      const numTeachers = f['num-teachers'] as number;
      const answered = queries.filter((q) => q.answered).length;
      const order = (f['ss-order'] as number | undefined) ?? publicReleaseOrder(queries.length, answered, params, delta, opts.orders, opts.conversion);
      const rng = new CryptoRng();
      const ss = releaseSmoothSensitivityEpsilon(queries, params, {
        delta, order, numTeachers, conversion: opts.conversion,
        sigmaSs: f['sigma-ss'] as number | undefined, gamma: f['ss-gamma'] as number | undefined,
      }, () => rng.gaussian());
      out.smooth_sensitivity = {
        epsilon: ss.epsilon, epsilon_note: ss.epsilon_note, epsilon_upper: ss.epsilon_upper, delta_upper: ss.delta_upper, gamma: ss.gamma,
        order: ss.order, order_source: f['ss-order'] === undefined ? 'data-independent optimum' : 'user', beta: ss.beta, sigma_ss: ss.sigma_ss,
        sigma_log_ss: ss.sigma_log_ss, gnss_rdp: ss.gnss_rdp, log_ss_rdp: ss.log_ss_rdp, smooth_sensitivity_upper: ss.smooth_sensitivity_upper,
        rdp_noisy: ss.rdp_noisy,
      };
      human.push(`smooth-sensitivity release (order ${ss.order}, β = ${ss.beta}, σ_ss = ${ss.sigma_ss}): ε̃ = ${ss.epsilon} (${ss.epsilon_note}); ` +
        `upper bound ε = ${ss.epsilon_upper} at δ = ${ss.delta_upper} (holds with probability ≥ 1 − ${ss.gamma})`);
    }
    return print(io, Boolean(f.json), out, human);
  },
};

const calibrateCommand: CommandSpec = {
  name: 'calibrate',
  summary: 'the smallest noise that meets a target ε',
  description:
    'Finds the smallest noise parameter for the events template FILE such that ε ≤ E at δ.\n' +
    'Mark the parameter to calibrate with "?", e.g.\n' +
    '  [{"type":"subsampled_gaussian","sampling_rate":0.0025,"noise_multiplier":"?","count":6000}]',
  flags: {
    'target-epsilon': { type: 'number', help: 'target ε', required: true, arg: 'E' },
    'events-template': { type: 'string', help: 'JSON events with "?" for the noise to calibrate', required: true, arg: 'FILE' },
    ...commonFlags,
  },
  examples: ['fedistill privacy calibrate --target-epsilon 1 --delta 1e-5 --events-template dpsgd-template.json --json'],
  run(args, io) {
    const f = args.flags;
    const delta = f.delta as number;
    checkDelta(delta);
    const template = readJsonFile(String(f['events-template']), '--events-template');
    const opts = accountingOptions(f);
    const c = calibrateNoise(template, f['target-epsilon'] as number, delta, opts);
    return print(io, Boolean(f.json), { noise_multiplier: c.noise, epsilon: c.epsilon, order: c.order, delta, conversion: opts.conversion },
      [`noise multiplier ${c.noise} gives ε = ${c.epsilon} ≤ ${f['target-epsilon']} at δ = ${delta} (order ${c.order})`]);
  },
};

const planCommand: CommandSpec = {
  name: 'plan',
  summary: 'ε a run config will spend, round by round, before it runs',
  description:
    'Reads a run config (the run.yaml of `fedistill server`) and composes what each round charges,\n' +
    'exactly as the aggregator\'s ledger will: soft labels (fedmd, dsfl) are exact; PATE is an upper\n' +
    'bound (every query answered). Prints ε after every round at the run\'s δ and the round after\n' +
    'which its budget stops the run. On a database with earlier runs, it also reads each allowlisted\n' +
    'site\'s own scope (charged in every run) and says how many rounds each can still pay, and where\n' +
    'too few can for quorum. The aggregator logs the same plan when it starts.',
  flags: {
    config: { type: 'string', help: 'run config file (YAML)', required: true, arg: 'FILE' },
    json: { type: 'boolean', help: 'print machine-readable JSON' },
  },
  examples: ['fedistill privacy plan --config run.yaml', 'fedistill privacy plan --config run.yaml --json'],
  run(args, io) {
    const c = loadRunConfig(String(args.flags.config));
    const publicSet = loadDataset(c.publicSet);
    const plan = planRun(c, publicSet.numClasses, publicSet.length);
    // on a database with earlier runs, the sites' own scopes (charged in every run) may stop the run first
    const read = readSiteScopeStates(c.database, () => loadAllowlist(c.allowlist).siteNames, c.runId);
    const sites = read && planSites(c, plan.roundEvent, read.scopes, read.fromRound);
    return print(io, Boolean(args.flags.json), {
      run_id: c.runId, strategy: c.strategy.name, round_event: plan.roundEvent, exact: plan.exact,
      epsilon_per_round: plan.epsilonPerRound, rounds: c.rounds, rounds_within_budget: plan.roundsWithinBudget, budget: plan.budget,
      // null without a database yet: every site is new
      rounds_sites_can_pay: sites?.rounds ?? null, rounds_released: sites?.fromRound ?? null, sites: sites?.sites ?? null,
    }, [...describePlan(plan), ...(sites ? describeSitesPlan(sites, plan) : [])].map((l) => l.replace(/^privacy plan: /, '')));
  },
};

export const privacyCommand: CommandSpec = {
  name: 'privacy',
  summary: 'privacy accounting: ε of events, PATE analysis, noise calibration, a run\'s plan',
  description:
    'Privacy accounting an auditor can reproduce (RDP, dp_accounting- and PATE-2018-compatible).\n' +
    'See docs/privacy.md for the event schema and the formulas.',
  examples: ['fedistill privacy epsilon --events dpsgd.json --delta 1e-5', 'fedistill privacy calibrate --target-epsilon 1 --delta 1e-5 --events-template dpsgd-template.json'],
  subcommands: [epsilonCommand, pateCommand, calibrateCommand, planCommand],
};
