// The aggregator's run configuration (run.yaml): parsed, validated with field names, defaults filled in.
import { dirname, resolve } from 'node:path';
import { readYamlFile } from '../shared/util/yaml-file.ts';
import { check } from '../shared/util/errors.ts';
import { ID_PATTERN } from '../protocols/validators.ts';
import { didYouMean } from '../shared/util/suggest.ts';

export interface RunConfig {
  runId: string;
  listen: { host: string; port: number };
  /** Aggregator identity file (fedistill keys generate). */
  identity: string;
  /** Allowlist file: site public key → site name. */
  allowlist: string;
  database: string;
  /** The public transfer set (split spec), referenced by sites, never sent. */
  publicSet: string;
  strategy: {
    name: 'pate' | 'fedmd' | 'dsfl';
    queriesPerRound: number;
    entropyReductionTemperature: number;
    replyTemperature: number;
    threshold: number;
    sigma1: number;
    sigma2: number;
    /** PATE: charge data-independent events (publishable ε, no vote counts in the ledger) or data-dependent ones. */
    accounting: 'data-independent' | 'data-dependent';
  };
  privacy: { clip: number; noiseMultiplier: number; epsilon: number; delta: number };
  rounds: number;
  /** Minimum sites that must reply for a round to release. */
  quorum: number;
  /** Sites to wait for before round 0. */
  minSites: number;
  roundTimeoutMs: number;
  /** After a quorum replied, how long to wait for the others before cutting them off. */
  stragglerGraceMs: number;
  /** Wait for sites to join (ms) before giving up. */
  joinTimeoutMs: number;
  seed: number;
}

const DEFAULTS = {
  listen: { host: '127.0.0.1', port: 7700 },
  database: 'fedistill.db',
  strategy: { queriesPerRound: 500, entropyReductionTemperature: 0.1, replyTemperature: 1, threshold: 200, sigma1: 150, sigma2: 40 },
  privacy: { clip: 1, noiseMultiplier: 1, delta: 1e-5 },
  roundTimeoutMs: 300_000,
  joinTimeoutMs: 600_000,
  seed: 1,
};

/** Node timers hold at most 2^31−1 ms; a longer timeout silently fires after 1 ms, so every request would time out. */
const MAX_TIMEOUT_S = Math.floor((2 ** 31 - 1) / 1000);

type Obj = Record<string, unknown>;

function obj(v: unknown, field: string): Obj {
  check(v !== null && typeof v === 'object' && !Array.isArray(v), field, 'must be a mapping');
  return v as Obj;
}

function num(o: Obj, key: string, field: string, def: number | undefined, opts: { min?: number; int?: boolean; exclusiveMin?: boolean; max?: number } = {}): number {
  const v = o[key] ?? def;
  check(v !== undefined, `${field}.${key}`, 'is required');
  check(typeof v === 'number' && Number.isFinite(v), `${field}.${key}`, `must be a number, got ${JSON.stringify(v)}`);
  if (opts.int) check(Number.isSafeInteger(v), `${field}.${key}`, `must be an integer, got ${v}`);
  if (opts.min !== undefined) check(opts.exclusiveMin ? (v as number) > opts.min : (v as number) >= opts.min, `${field}.${key}`, `must be ${opts.exclusiveMin ? '>' : '≥'} ${opts.min}, got ${v}`);
  if (opts.max !== undefined) check((v as number) <= opts.max, `${field}.${key}`, `must be ≤ ${opts.max}, got ${v}`);
  return v as number;
}

function str(o: Obj, key: string, field: string, def?: string): string {
  const v = o[key] ?? def;
  check(typeof v === 'string' && v.length > 0, `${field}.${key}`, v === undefined ? 'is required' : `must be a string, got ${JSON.stringify(v)}`);
  return v as string;
}

function rejectUnknown(o: Obj, known: string[], field: string): void {
  for (const k of Object.keys(o)) check(known.includes(k), `${field}.${k}`, `is not a known setting${didYouMean(k, known)} (known: ${known.join(', ')})`, 'E_CONFIG_INVALID');
}

/** A required mapping section: "is required" when absent, not the puzzling "must be a mapping". */
function requiredObj(o: Obj, key: string): Obj {
  check(o[key] !== undefined && o[key] !== null, key, 'is required');
  return obj(o[key], key);
}

/** Validates a parsed run config; relative paths resolve against `baseDir`. */
export function validateRunConfig(raw: unknown, baseDir = process.cwd()): RunConfig {
  const o = obj(raw, 'run');
  rejectUnknown(o, ['run_id', 'listen', 'identity', 'allowlist', 'database', 'public_set', 'strategy', 'privacy', 'rounds', 'quorum', 'min_sites', 'round_timeout_s', 'straggler_grace_s', 'join_timeout_s', 'seed'], 'run');
  const listen = obj(o.listen ?? {}, 'listen');
  rejectUnknown(listen, ['host', 'port'], 'listen');
  const s = requiredObj(o, 'strategy');
  rejectUnknown(s, ['name', 'queries_per_round', 'entropy_reduction_temperature', 'reply_temperature', 'threshold', 'sigma1', 'sigma2', 'accounting'], 'strategy');
  const accounting = str(s, 'accounting', 'strategy', 'data-independent');
  check(accounting === 'data-independent' || accounting === 'data-dependent', 'strategy.accounting', `must be data-independent or data-dependent, got "${accounting}"`);
  const name = str(s, 'name', 'strategy');
  check(['pate', 'fedmd', 'dsfl'].includes(name), 'strategy.name', `must be pate, fedmd or dsfl, got "${name}"${didYouMean(name, ['pate', 'fedmd', 'dsfl'])}`);
  const p = obj(o.privacy ?? {}, 'privacy');
  rejectUnknown(p, ['clip', 'noise_multiplier', 'epsilon', 'delta'], 'privacy');
  const delta = num(p, 'delta', 'privacy', DEFAULTS.privacy.delta, { min: 0, exclusiveMin: true });
  check(delta < 1, 'privacy.delta', `must be in (0, 1), got ${delta}`);
  const rounds = num(o, 'rounds', 'run', undefined, { min: 1, int: true });
  const quorum = num(o, 'quorum', 'run', 1, { min: 1, int: true });
  const at = (f: string) => resolve(baseDir, f);
  const runId = str(o, 'run_id', 'run');
  // the run id travels in every Welcome and request id: one the wire validator refuses would lock every site out
  check(ID_PATTERN.test(runId), 'run.run_id', `must be 1–128 letters, digits, '.', '_', ':' or '-' (starting with a letter or digit), got ${JSON.stringify(runId.slice(0, 40))}`);
  return {
    runId,
    listen: { host: str(listen, 'host', 'listen', DEFAULTS.listen.host), port: num(listen, 'port', 'listen', DEFAULTS.listen.port, { min: 0, int: true, max: 65_535 }) },
    identity: at(str(o, 'identity', 'run')),
    allowlist: at(str(o, 'allowlist', 'run')),
    database: at(str(o, 'database', 'run', DEFAULTS.database)),
    publicSet: str(o, 'public_set', 'run'),
    strategy: {
      name: name as RunConfig['strategy']['name'],
      queriesPerRound: num(s, 'queries_per_round', 'strategy', DEFAULTS.strategy.queriesPerRound, { min: 1, int: true }),
      entropyReductionTemperature: num(s, 'entropy_reduction_temperature', 'strategy', DEFAULTS.strategy.entropyReductionTemperature, { min: 0, exclusiveMin: true }),
      replyTemperature: num(s, 'reply_temperature', 'strategy', DEFAULTS.strategy.replyTemperature, { min: 0, exclusiveMin: true }),
      threshold: num(s, 'threshold', 'strategy', DEFAULTS.strategy.threshold),
      sigma1: num(s, 'sigma1', 'strategy', DEFAULTS.strategy.sigma1, { min: 0, exclusiveMin: true }),
      sigma2: num(s, 'sigma2', 'strategy', DEFAULTS.strategy.sigma2, { min: 0, exclusiveMin: true }),
      accounting: accounting as RunConfig['strategy']['accounting'],
    },
    privacy: {
      clip: num(p, 'clip', 'privacy', DEFAULTS.privacy.clip, { min: 0, exclusiveMin: true }),
      noiseMultiplier: num(p, 'noise_multiplier', 'privacy', DEFAULTS.privacy.noiseMultiplier, { min: 0, exclusiveMin: true }),
      epsilon: num(p, 'epsilon', 'privacy', undefined, { min: 0, exclusiveMin: true }),
      delta,
    },
    rounds,
    quorum,
    minSites: num(o, 'min_sites', 'run', quorum, { min: 1, int: true }),
    roundTimeoutMs: num(o, 'round_timeout_s', 'run', DEFAULTS.roundTimeoutMs / 1000, { min: 0, exclusiveMin: true, max: MAX_TIMEOUT_S }) * 1000,
    stragglerGraceMs: num(o, 'straggler_grace_s', 'run', 60, { min: 0, max: MAX_TIMEOUT_S }) * 1000,
    joinTimeoutMs: num(o, 'join_timeout_s', 'run', DEFAULTS.joinTimeoutMs / 1000, { min: 0, exclusiveMin: true, max: MAX_TIMEOUT_S }) * 1000,
    seed: num(o, 'seed', 'run', DEFAULTS.seed, { min: 0, int: true }),
  };
}

/** Reads and validates run.yaml (or .json). */
export function loadRunConfig(path: string): RunConfig {
  const raw = readYamlFile(path, 'run config');
  return validateRunConfig(raw, dirname(resolve(path)));
}
