// Simulation scenarios (SCENARIO.yaml): the one description of a run that both modes execute — validated, with defaults.
import type { RunConfig } from '../server/run-config.ts';
import { readYamlFile } from '../shared/util/yaml-file.ts';
import { PARTITION_SCHEMES, type PartitionScheme, unusedPartitionParam } from '../shared/data/partition.ts';
import { SCENARIO_FIELDS } from '../shared/util/config-fields.ts';
import { ID_PATTERN } from '../protocols/validators.ts';
import { type Obj, booleanAt, checkField, listAt, mapping, numberAt, onlyKeys, root, section, stringAt } from '../shared/util/scenario-fields.ts';
import { SIM_MODEL_NAMES, type SimModel, validateSimModel } from './sim-models.ts';
import { type CompetenceSettings, competenceSettingsAt } from '../client/domain-competence.ts';
import { digestAt, localTrainingAt } from '../client/site-config.ts';
import { MAX_ALLOWLIST_SITES } from '../shared/crypto/allowlist.ts';

export type StrategyName = RunConfig['strategy']['name'];
export type PrivacyUnit = 'site' | 'example';

/** A fault at a given round (0-based rounds; `site` is a 1-based index). */
export interface RoundFault { site: number; round: number }

export interface Scenario {
  name: string;
  /** 'federated' runs here; 'pate-reproduction' is handed to simulations/pate-mnist. */
  kind: 'federated' | 'pate-reproduction';
  /** Seeds query selection, partitions, model init and faults. */
  seed: number;
  data: {
    /** Private pool split over the sites (a split spec). */
    dataset: string;
    /** Public transfer set every party can load (a split spec). */
    publicSet: string;
    /** Held-out set each site (and each baseline) is evaluated on. */
    evalSet: string;
    partition: { scheme: PartitionScheme; alpha?: number; shards?: number; sigma?: number; seed: number };
  };
  sites: {
    count: number;
    /** One model per site, cycled when shorter than `count` (heterogeneous models allowed). */
    models: SimModel[];
    local: { epochs: number; batch: number; lr: number; optimizer: 'sgd' | 'adam' | 'adamw' };
    digest: { epochs: number; revisitEpochs: number; temperature: number; privateMix: number };
    localNoiseMultiplier: number;
    /** Competence weighting of soft-label replies (client/domain-competence.ts); undefined = off. */
    competence?: CompetenceSettings;
    /** ORT intra-op threads per site session (1 when many sites share a process). */
    threads: number;
  };
  /** The same strategy settings as a deployment's run.yaml. */
  strategy: RunConfig['strategy'];
  privacy: {
    unit: PrivacyUnit;
    /** Teachers per site: 1 for the site-level unit, k > 1 disjoint shards for the example-level unit. */
    teachersPerSite: number;
    clip: number;
    noiseMultiplier: number;
    /** Budget (ε at δ) for the run and for each site. */
    epsilon: number;
    delta: number;
    /** Seeds the aggregator's noise: reproducible runs for tests only — NOT private. */
    testNoiseSeed?: number;
  };
  rounds: number;
  quorum: number;
  roundTimeoutS: number;
  faults: {
    /** Per-round probability that a site ignores the round's query. */
    dropout: number;
    /** Delay added before each query reaches a site. */
    latencyMs: number;
    /** The site's session is cut at the start of the round (it reconnects). */
    disconnects: RoundFault[];
    /** The site stops for good at the start of the round. */
    siteCrashes: RoundFault[];
    /** The aggregator process dies after completing this round and restarts from its database. */
    aggregatorCrashRound?: number;
  };
  baselines: { localOnly: boolean; centralized: { epochs: number } | false; fedavg: { epochsPerRound: number } | false };
  /** The raw mapping, for modules (pate-mnist) that read their own fields. */
  raw: Obj;
}

const TOP_KEYS = ['name', 'kind', 'description', 'seed', 'data', 'sites', 'strategy', 'privacy', 'rounds', 'quorum', 'round_timeout_s', 'faults', 'baselines'];

function roundFaults(o: Obj, key: string, sites: number, rounds: number): RoundFault[] {
  return listAt(o, key, 'faults').map((item, i) => {
    const f = mapping(item, `faults.${key}[${i}]`);
    onlyKeys(f, ['site', 'round'], `faults.${key}[${i}]`);
    return {
      site: numberAt(f, 'site', `faults.${key}[${i}]`, undefined, { int: true, min: 1, max: sites }),
      round: numberAt(f, 'round', `faults.${key}[${i}]`, undefined, { int: true, min: 0, max: rounds - 1 }),
    };
  });
}

function parseModels(s: Obj): SimModel[] {
  if (s.models !== undefined) {
    const list = listAt(s, 'models', 'sites');
    checkField(list.length > 0, 'sites.models', 'must list at least one model');
    return list.map((m, i) => validateSimModel(m, `sites.models[${i}]`));
  }
  return [validateSimModel(s.model ?? 'mlp', 'sites.model')];
}

/** Refuses a partition parameter (alpha, shards, sigma) that `scheme` does not use; an empty (null) value reads as absent. */
function refuseUnusedPartitionKeys(p: Obj, scheme: PartitionScheme): void {
  for (const key of Object.keys(p)) {
    if (key === 'scheme' || p[key] === undefined || p[key] === null) continue;
    const why = unusedPartitionParam(scheme, key);
    checkField(why === undefined, `data.partition.${key}`, why ?? '');
  }
}

/** Validates a parsed scenario (snake_case YAML) and fills defaults; errors name the field. */
export function validateScenario(raw: unknown): Scenario {
  const o = root(raw, 'scenario');
  const kind = stringAt(o, 'kind', 'scenario', 'federated', ['federated', 'pate-reproduction'] as const);
  const name = stringAt(o, 'name', 'scenario');
  // A reproduction's other fields belong to its module (simulations/pate-mnist), which checks them.
  if (kind === 'pate-reproduction') return { ...placeholder(name), kind, raw: o };
  onlyKeys(o, TOP_KEYS, 'scenario');
  // The name becomes the aggregator's run id: refuse a bad one here, not after local training.
  checkField(ID_PATTERN.test(name), 'scenario.name',
    `is also the run id: use 1–128 letters, digits, '.', '_', ':' or '-' (starting with a letter or digit), got ${JSON.stringify(name.slice(0, 40))}`);
  const seed = numberAt(o, 'seed', 'scenario', 1, { int: true, min: 0 });
  const rounds = numberAt(o, 'rounds', 'scenario', undefined, { int: true, min: 1 });

  checkField(o.data != null, 'data', 'is required: a mapping with dataset, public_set and eval_set (split specs such as mnist:train[0:600], docs/data.md)');
  const d = section(o, 'data', 'data', ['dataset', 'public_set', 'eval_set', 'partition'], false);
  const p = section(d, 'partition', 'data.partition', ['scheme', 'alpha', 'shards', 'sigma', 'seed']);
  const scheme = stringAt(p, 'scheme', 'data.partition', 'iid', PARTITION_SCHEMES);
  refuseUnusedPartitionKeys(p, scheme);

  const s = section(o, 'sites', 'sites', ['count', 'model', 'models', 'local', 'digest', 'local_noise_multiplier', 'competence', 'threads'], false);
  checkField(!(s.model !== undefined && s.models !== undefined), 'sites', 'give either model or models, not both');
  const local = localTrainingAt(s, 'sites.local', SCENARIO_FIELDS);
  const digest = digestAt(s, 'sites.digest', SCENARIO_FIELDS);
  const count = numberAt(s, 'count', 'sites', undefined, { int: true, min: 1, max: MAX_ALLOWLIST_SITES }); // what one aggregator admits

  checkField(o.strategy != null, 'strategy', 'is required: a mapping with at least name (dsfl, fedmd or pate)');
  const st = section(o, 'strategy', 'strategy', ['name', 'queries_per_round', 'entropy_reduction_temperature', 'reply_temperature', 'threshold', 'sigma1', 'sigma2', 'accounting'], false);
  const pr = section(o, 'privacy', 'privacy', ['unit', 'teachers_per_site', 'clip', 'noise_multiplier', 'epsilon', 'delta', 'test_noise_seed']);
  const unit = stringAt(pr, 'unit', 'privacy', 'site', ['site', 'example'] as const);
  const teachersPerSite = unit === 'site' ? 1 : numberAt(pr, 'teachers_per_site', 'privacy', 5, { int: true, min: 2 });
  checkField(unit === 'example' || pr.teachers_per_site === undefined || pr.teachers_per_site === 1, 'privacy.teachers_per_site',
    'must be 1 (or absent) for the site-level unit; set unit: example for k > 1 teachers per site');
  const delta = numberAt(pr, 'delta', 'privacy', 1e-5, { min: 0, exclusiveMin: true, max: 0.1 });
  const competence = competenceSettingsAt(s.competence, 'sites.competence', SCENARIO_FIELDS);
  checkField(competence === undefined || unit === 'site', 'sites.competence',
    'competence weighting needs privacy.unit: site (the discriminator sees all of a site\'s data, so it would touch every teacher)');

  const f = section(o, 'faults', 'faults', ['dropout', 'latency_ms', 'disconnects', 'site_crashes', 'aggregator_crash_round']);
  const b = section(o, 'baselines', 'baselines', ['local_only', 'centralized', 'fedavg']);
  const quorum = numberAt(o, 'quorum', 'scenario', 1, { int: true, min: 1, max: count });

  return {
    name, kind, seed,
    data: {
      dataset: stringAt(d, 'dataset', 'data'),
      publicSet: stringAt(d, 'public_set', 'data'),
      evalSet: stringAt(d, 'eval_set', 'data'),
      partition: {
        scheme,
        ...(scheme === 'dirichlet' ? { alpha: numberAt(p, 'alpha', 'data.partition', 0.5, { min: 0, exclusiveMin: true }) } : {}),
        ...(scheme === 'shards' ? { shards: numberAt(p, 'shards', 'data.partition', 2, { int: true, min: 1 }) } : {}),
        ...(scheme === 'quantity' && p.sigma !== undefined ? { sigma: numberAt(p, 'sigma', 'data.partition', undefined, { min: 0 }) } : {}),
        seed: numberAt(p, 'seed', 'data.partition', seed, { int: true, min: 0 }),
      },
    },
    sites: {
      count,
      models: parseModels(s),
      local: { epochs: local.epochs, batch: local.batchSize, lr: local.lr, optimizer: local.optimizer },
      digest,
      localNoiseMultiplier: numberAt(s, 'local_noise_multiplier', 'sites', 0, { min: 0 }),
      ...(competence ? { competence } : {}),
      threads: numberAt(s, 'threads', 'sites', 1, { int: true, min: 1 }),
    },
    strategy: {
      name: stringAt(st, 'name', 'strategy', undefined, ['dsfl', 'fedmd', 'pate'] as const),
      queriesPerRound: numberAt(st, 'queries_per_round', 'strategy', 500, { int: true, min: 1 }),
      entropyReductionTemperature: numberAt(st, 'entropy_reduction_temperature', 'strategy', 0.1, { min: 0, exclusiveMin: true }),
      replyTemperature: numberAt(st, 'reply_temperature', 'strategy', 1, { min: 0, exclusiveMin: true }),
      threshold: numberAt(st, 'threshold', 'strategy', 200, { min: 0 }),
      sigma1: numberAt(st, 'sigma1', 'strategy', 150, { min: 0, exclusiveMin: true }),
      sigma2: numberAt(st, 'sigma2', 'strategy', 40, { min: 0, exclusiveMin: true }),
      accounting: stringAt(st, 'accounting', 'strategy', 'data-independent', ['data-independent', 'data-dependent'] as const),
    },
    privacy: {
      unit, teachersPerSite,
      clip: numberAt(pr, 'clip', 'privacy', 1, { min: 0, exclusiveMin: true }),
      noiseMultiplier: numberAt(pr, 'noise_multiplier', 'privacy', 1, { min: 0, exclusiveMin: true }),
      epsilon: numberAt(pr, 'epsilon', 'privacy', 1000, { min: 0, exclusiveMin: true }),
      delta,
      ...(pr.test_noise_seed !== undefined ? { testNoiseSeed: numberAt(pr, 'test_noise_seed', 'privacy', undefined, { int: true, min: 0 }) } : {}),
    },
    rounds, quorum,
    roundTimeoutS: numberAt(o, 'round_timeout_s', 'scenario', 120, { min: 0, exclusiveMin: true }),
    faults: {
      dropout: numberAt(f, 'dropout', 'faults', 0, { min: 0, max: 1 }),
      latencyMs: numberAt(f, 'latency_ms', 'faults', 0, { min: 0 }),
      disconnects: roundFaults(f, 'disconnects', count, rounds),
      siteCrashes: roundFaults(f, 'site_crashes', count, rounds),
      ...(f.aggregator_crash_round !== undefined ? { aggregatorCrashRound: numberAt(f, 'aggregator_crash_round', 'faults', undefined, { int: true, min: 0, max: rounds - 2 }) } : {}),
    },
    baselines: {
      localOnly: booleanAt(b, 'local_only', 'baselines', true),
      centralized: baselineOption(b, 'centralized', 'epochs', local.epochs + rounds),
      fedavg: (() => {
        const v = baselineOption(b, 'fedavg', 'epochs_per_round', 1);
        return v ? { epochsPerRound: v.epochs } : false;
      })(),
    },
    raw: o,
  };
}

/** `true`/absent → defaults, `false` → off, a mapping → its one numeric setting. */
function baselineOption(b: Obj, key: string, field: string, def: number): { epochs: number } | false {
  const v = b[key];
  if (v === false) return false;
  if (v === undefined || v === true) return { epochs: def };
  const m = section(b, key, `baselines.${key}`, [field], false);
  return { epochs: numberAt(m, field, `baselines.${key}`, def, { int: true, min: 1 }) };
}

/** A scenario handed to another module: only its name and kind are ours to check. */
function placeholder(name: string): Omit<Scenario, 'kind' | 'raw'> {
  return {
    name, seed: 1, rounds: 1, quorum: 1, roundTimeoutS: 120,
    data: { dataset: '', publicSet: '', evalSet: '', partition: { scheme: 'iid', seed: 1 } },
    sites: { count: 0, models: [], local: { epochs: 0, batch: 1, lr: 1, optimizer: 'adam' }, digest: { epochs: 0, revisitEpochs: 0, temperature: 1, privateMix: 0 }, localNoiseMultiplier: 0, threads: 1 },
    strategy: { name: 'pate', queriesPerRound: 1, entropyReductionTemperature: 1, replyTemperature: 1, threshold: 0, sigma1: 1, sigma2: 1, accounting: 'data-independent' },
    privacy: { unit: 'example', teachersPerSite: 1, clip: 1, noiseMultiplier: 1, epsilon: 1, delta: 1e-5 },
    faults: { dropout: 0, latencyMs: 0, disconnects: [], siteCrashes: [] },
    baselines: { localOnly: false, centralized: false, fedavg: false },
  };
}

/** Reads and validates a scenario file (YAML or JSON). */
export function loadScenario(path: string): Scenario {
  return validateScenario(readYamlFile(path, 'scenario', {
    missingCode: 'E_SCENARIO_MISSING', invalidCode: 'E_SCENARIO_INVALID', hint: '; pass a file such as simulations/scenarios/tiny.yaml',
  }));
}

/** The model a site gets (1-based index), cycling the scenario's list. */
export function modelOfSite(s: Scenario, site: number): SimModel {
  return s.sites.models[(site - 1) % s.sites.models.length]!;
}

export { SIM_MODEL_NAMES };
