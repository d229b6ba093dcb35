// The aggregator's run configuration (run.yaml): parsed, validated with field names, defaults filled in.
import { dirname, resolve } from 'node:path';
import { readYamlFile } from '../shared/util/yaml-file.ts';
import { wrongConfigKind } from '../shared/util/config-kind.ts';
import { CONFIG_FILE_FIELDS } from '../shared/util/config-fields.ts';
import { ID_PATTERN } from '../protocols/validators.ts';
import { FIELD_LIMITS, type ConnectionLimits } from '../protocols/limits.ts';
import { connectionLimitsAt } from '../shared/channel/connection-limits.ts';

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
  privacy: {
    clip: number; noiseMultiplier: number; epsilon: number; delta: number;
    /**
     * Teachers every site must answer with (`stats.teachers`): its weight in a PATE vote and its
     * clip multiplier in a soft-label sum. Pinned by the run, never chosen by a site (docs/runs.md).
     */
    teachersPerSite: number;
  };
  rounds: number;
  /** Attempts of one round that may end below quorum before the run stops as 'stalled'. */
  maxRoundAttempts: number;
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
  /** Overrides of the channel's per-connection limits (`connection_limits`, docs/channel.md); undefined: the defaults. */
  connectionLimits?: Partial<ConnectionLimits>;
}

const DEFAULTS = {
  listen: { host: '127.0.0.1', port: 7700 },
  database: 'fedistill.db',
  strategy: { queriesPerRound: 500, entropyReductionTemperature: 0.1, replyTemperature: 1, threshold: 200, sigma1: 150, sigma2: 40 },
  privacy: { clip: 1, noiseMultiplier: 1, delta: 1e-5, teachersPerSite: 1 },
  maxRoundAttempts: 5,
  roundTimeoutMs: 300_000,
  joinTimeoutMs: 600_000,
  seed: 1,
};

/** Node timers hold at most 2^31−1 ms; a longer timeout silently fires after 1 ms, so every request would time out. */
const MAX_TIMEOUT_S = Math.floor((2 ** 31 - 1) / 1000);

const { root, onlyKeys, section, numberAt: num, stringAt: str, checkField } = CONFIG_FILE_FIELDS;

/** Validates a parsed run config; relative paths resolve against `baseDir`. */
export function validateRunConfig(raw: unknown, baseDir = process.cwd()): RunConfig {
  const o = root(raw, 'run');
  onlyKeys(o, ['run_id', 'listen', 'identity', 'allowlist', 'database', 'public_set', 'strategy', 'privacy', 'rounds', 'quorum', 'min_sites', 'max_round_attempts', 'round_timeout_s', 'straggler_grace_s', 'join_timeout_s', 'seed', 'connection_limits'], 'run');
  const listen = section(o, 'listen', 'listen', ['host', 'port']);
  const s = section(o, 'strategy', 'strategy', ['name', 'queries_per_round', 'entropy_reduction_temperature', 'reply_temperature', 'threshold', 'sigma1', 'sigma2', 'accounting'], false);
  const accounting = str(s, 'accounting', 'strategy', 'data-independent', ['data-independent', 'data-dependent'] as const);
  const name = str(s, 'name', 'strategy', undefined, ['pate', 'fedmd', 'dsfl'] as const);
  const p = section(o, 'privacy', 'privacy', ['clip', 'noise_multiplier', 'epsilon', 'delta', 'teachers_per_site']);
  const delta = num(p, 'delta', 'privacy', DEFAULTS.privacy.delta, { min: 0, exclusiveMin: true });
  checkField(delta < 1, 'privacy.delta', `must be in (0, 1), got ${delta}`);
  const rounds = num(o, 'rounds', 'run', undefined, { min: 1, int: true });
  const quorum = num(o, 'quorum', 'run', 1, { min: 1, int: true });
  const at = (f: string) => resolve(baseDir, f);
  const connectionLimits = connectionLimitsAt(o.connection_limits);
  const runId = str(o, 'run_id', 'run');
  // the run id travels in every Welcome and request id: one the wire validator refuses would lock every site out
  checkField(ID_PATTERN.test(runId), 'run.run_id', `must be 1–128 letters, digits, '.', '_', ':' or '-' (starting with a letter or digit), got ${JSON.stringify(runId.slice(0, 40))}`);
  return {
    runId,
    listen: { host: str(listen, 'host', 'listen', DEFAULTS.listen.host), port: num(listen, 'port', 'listen', DEFAULTS.listen.port, { min: 0, int: true, max: 65_535 }) },
    identity: at(str(o, 'identity', 'run')),
    allowlist: at(str(o, 'allowlist', 'run')),
    database: at(str(o, 'database', 'run', DEFAULTS.database)),
    publicSet: str(o, 'public_set', 'run'),
    strategy: {
      name,
      queriesPerRound: num(s, 'queries_per_round', 'strategy', DEFAULTS.strategy.queriesPerRound, { min: 1, int: true }),
      entropyReductionTemperature: num(s, 'entropy_reduction_temperature', 'strategy', DEFAULTS.strategy.entropyReductionTemperature, { min: 0, exclusiveMin: true }),
      replyTemperature: num(s, 'reply_temperature', 'strategy', DEFAULTS.strategy.replyTemperature, { min: 0, exclusiveMin: true }),
      threshold: num(s, 'threshold', 'strategy', DEFAULTS.strategy.threshold),
      sigma1: num(s, 'sigma1', 'strategy', DEFAULTS.strategy.sigma1, { min: 0, exclusiveMin: true }),
      sigma2: num(s, 'sigma2', 'strategy', DEFAULTS.strategy.sigma2, { min: 0, exclusiveMin: true }),
      accounting,
    },
    privacy: {
      clip: num(p, 'clip', 'privacy', DEFAULTS.privacy.clip, { min: 0, exclusiveMin: true }),
      noiseMultiplier: num(p, 'noise_multiplier', 'privacy', DEFAULTS.privacy.noiseMultiplier, { min: 0, exclusiveMin: true }),
      epsilon: num(p, 'epsilon', 'privacy', undefined, { min: 0, exclusiveMin: true }),
      delta,
      teachersPerSite: num(p, 'teachers_per_site', 'privacy', DEFAULTS.privacy.teachersPerSite, { min: 1, int: true, max: FIELD_LIMITS.maxTeachers }),
    },
    rounds,
    quorum,
    minSites: num(o, 'min_sites', 'run', quorum, { min: 1, int: true }),
    maxRoundAttempts: num(o, 'max_round_attempts', 'run', DEFAULTS.maxRoundAttempts, { min: 1, int: true, max: 1_000 }),
    roundTimeoutMs: num(o, 'round_timeout_s', 'run', DEFAULTS.roundTimeoutMs / 1000, { min: 0, exclusiveMin: true, max: MAX_TIMEOUT_S }) * 1000,
    stragglerGraceMs: num(o, 'straggler_grace_s', 'run', 60, { min: 0, max: MAX_TIMEOUT_S }) * 1000,
    joinTimeoutMs: num(o, 'join_timeout_s', 'run', DEFAULTS.joinTimeoutMs / 1000, { min: 0, exclusiveMin: true, max: MAX_TIMEOUT_S }) * 1000,
    seed: num(o, 'seed', 'run', DEFAULTS.seed, { min: 0, int: true }),
    ...(connectionLimits ? { connectionLimits } : {}),
  };
}

/** Reads and validates run.yaml (or .json). */
export function loadRunConfig(path: string): RunConfig {
  const raw = readYamlFile(path, 'run config');
  try { return validateRunConfig(raw, dirname(resolve(path))); } catch (e) { throw wrongConfigKind(e, raw, path, 'run'); }
}
