// The site agent's configuration (site.yaml): identity, aggregator, private data, model, local policy.
import { dirname, resolve } from 'node:path';
import { readYamlFile } from '../shared/util/yaml-file.ts';
import { check } from '../shared/util/errors.ts';
import { didYouMean } from '../shared/util/suggest.ts';
import { PARTITION_SCHEMES } from '../shared/data/partition-common.ts';
import { FIELD_LIMITS } from '../protocols/limits.ts';
import { SITE_NAME_PATTERN } from '../protocols/validators.ts';
import type { SiteSettings } from './site-agent.ts';
import { COMPETENCE_DEFAULTS, type CompetenceSettings, validateCompetence } from './domain-competence.ts';

export interface SiteConfig {
  settings: SiteSettings;
  identity: string;
  server: { url: string; publicKey: string };
  /** Private data: a split spec (optionally one client's share of a seeded partition), or a CSV file. */
  data: { dataset?: string; file?: string; shape?: number[]; classes?: number; partition?: { scheme: string; clients: number; index: number; seed: number; alpha?: number; shards?: number } };
  /** The run's public transfer set (split spec); its hash is checked against the aggregator's. */
  publicSet: string;
  /** Evaluation set for before/after accuracy (never leaves the site). */
  evalSet?: string;
  ledger: string;
  /** An external ONNX classifier that answers queries instead of the site's own teachers (inference only). */
  teacherOnnx?: string;
  /** Where the distilled student is exported at the end. */
  studentOut?: string;
}

/** Every key site.yaml knows, per section: anything else is a typo and is refused, never ignored. */
const KNOWN = {
  site: ['name', 'identity', 'server', 'data', 'public_set', 'eval_set', 'model', 'teachers', 'teacher_onnx', 'local', 'digest', 'policy', 'ledger', 'student_out', 'device', 'threads', 'seed'],
  server: ['url', 'public_key'],
  data: ['dataset', 'file', 'shape', 'classes', 'partition'],
  'data.partition': ['scheme', 'clients', 'index', 'seed', 'alpha', 'shards'],
  local: ['epochs', 'batch', 'lr', 'optimizer'],
  digest: ['epochs', 'revisit_epochs', 'private_mix', 'temperature'],
  policy: ['clip', 'local_noise_multiplier', 'competence', 'epsilon', 'delta'],
  'policy.competence': ['epochs', 'full_weight_ratio', 'hidden', 'max_public_samples'],
} as const;

const DEVICES = ['cpu', 'webgpu', 'cuda', 'auto'] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A section's keys must all be known; a near miss gets a did-you-mean. */
function rejectUnknown(o: Obj, section: keyof typeof KNOWN): void {
  const known: readonly string[] = KNOWN[section];
  for (const k of Object.keys(o)) {
    check(known.includes(k), `${section}.${k}`, `is not a known setting${didYouMean(k, known)} (known: ${known.join(', ')})`, 'E_CONFIG_INVALID');
  }
}

/** A mapping section: absent (or empty in YAML) is {}; anything but a mapping is an error, not a silent default. */
function section(o: Obj, key: string, name: keyof typeof KNOWN): Obj {
  const v = o[key];
  if (v === undefined || v === null) return {};
  check(isObj(v), name, `must be a mapping, got ${JSON.stringify(v)}`);
  rejectUnknown(v, name);
  return v;
}

function str(o: Obj, key: string, field: string, def?: string): string {
  const v = o[key] ?? def;
  check(v !== undefined, `${field}.${key}`, 'is required');
  check(typeof v === 'string' && v.length > 0, `${field}.${key}`, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function num(o: Obj, key: string, field: string, def: number | undefined, r: { min?: number; exclusiveMin?: boolean; int?: boolean; max?: number } = {}): number {
  const v = o[key] ?? def;
  const f = `${field}.${key}`;
  check(v !== undefined, f, 'is required');
  check(typeof v === 'number' && Number.isFinite(v), f, `must be a number, got ${JSON.stringify(v)}`);
  if (r.int) check(Number.isSafeInteger(v), f, `must be an integer, got ${v}`);
  if (r.min !== undefined) check(r.exclusiveMin ? v > r.min : v >= r.min, f, `must be ${r.exclusiveMin ? '>' : '≥'} ${r.min}, got ${v}`);
  if (r.max !== undefined) check(v <= r.max, f, `must be ≤ ${r.max}, got ${v}`);
  return v;
}

function oneOf<T extends string>(o: Obj, key: string, field: string, def: T | undefined, allowed: readonly T[]): T {
  const v = str(o, key, field, def);
  check((allowed as readonly string[]).includes(v), `${field}.${key}`, `must be one of ${allowed.join(', ')}, got "${v}"${didYouMean(v, allowed)}`);
  return v as T;
}

/** policy.competence: true → defaults; a mapping → its fields over the defaults (client/domain-competence.ts). */
function competenceOf(v: unknown): CompetenceSettings {
  check(v === true || isObj(v), 'policy.competence', 'must be true, false or a mapping');
  const m = isObj(v) ? v : {};
  rejectUnknown(m, 'policy.competence');
  const d = COMPETENCE_DEFAULTS;
  const f = 'policy.competence';
  const c: CompetenceSettings = {
    epochs: num(m, 'epochs', f, d.epochs),
    fullWeightRatio: num(m, 'full_weight_ratio', f, d.fullWeightRatio),
    hidden: num(m, 'hidden', f, d.hidden),
    maxPublicSamples: num(m, 'max_public_samples', f, d.maxPublicSamples),
  };
  validateCompetence(c);
  return c;
}

/** data: a split spec, or a CSV file with its shape and class count; never both (one would be silently unused). */
function dataOf(o: Obj, at: (f: string) => string): SiteConfig['data'] {
  const data = section(o, 'data', 'data');
  check(data.dataset !== undefined || data.file !== undefined, 'data.dataset', 'is required (or data.file for a CSV file)');
  check(data.dataset === undefined || data.file === undefined, 'data', 'give data.dataset or data.file, not both');
  if (data.file === undefined) {
    for (const k of ['shape', 'classes']) check(data[k] === undefined, `data.${k}`, 'is used only with data.file; remove it');
  }
  const p = data.partition;
  check(p === undefined || p === null || isObj(p), 'data.partition', `must be a mapping, got ${JSON.stringify(p)}`);
  let partition: SiteConfig['data']['partition'];
  if (isObj(p)) {
    rejectUnknown(p, 'data.partition');
    const f = 'data.partition';
    const clients = num(p, 'clients', f, undefined, { int: true, min: 1 });
    partition = {
      scheme: oneOf(p, 'scheme', f, undefined, PARTITION_SCHEMES),
      clients,
      index: num(p, 'index', f, undefined, { int: true, min: 0, max: clients - 1 }),
      seed: num(p, 'seed', f, 1, { int: true, min: 0 }),
      ...(p.alpha !== undefined ? { alpha: num(p, 'alpha', f, undefined, { min: 0, exclusiveMin: true }) } : {}),
      ...(p.shards !== undefined ? { shards: num(p, 'shards', f, undefined, { int: true, min: 1 }) } : {}),
    };
  }
  const shape = (): number[] => {
    const v = data.shape ?? [1, 28, 28];
    check(Array.isArray(v) && v.length > 0 && v.every((d) => Number.isSafeInteger(d) && (d as number) > 0), 'data.shape', 'must be a list of positive integers');
    return v as number[];
  };
  return {
    ...(data.file !== undefined
      ? { file: at(str(data, 'file', 'data')), shape: shape(), classes: num(data, 'classes', 'data', 10, { int: true, min: 2 }) }
      : { dataset: str(data, 'dataset', 'data') }),
    ...(partition ? { partition } : {}),
  };
}

/** Validates a parsed site config; relative paths resolve against `baseDir`. */
export function validateSiteConfig(raw: unknown, baseDir = process.cwd()): SiteConfig {
  check(isObj(raw), 'site', 'must be a mapping');
  const o = raw as Obj;
  rejectUnknown(o, 'site');
  const server = section(o, 'server', 'server');
  const local = section(o, 'local', 'local');
  const digest = section(o, 'digest', 'digest');
  const policy = section(o, 'policy', 'policy');
  const at = (f: string) => resolve(baseDir, f);
  const name = str(o, 'name', 'site');
  // the name is what the aggregator's allowlist maps this site's key to; one it would refuse is caught here
  check(SITE_NAME_PATTERN.test(name), 'site.name', `must be 1–64 letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${JSON.stringify(name.slice(0, 40))}`);
  const url = str(server, 'url', 'server');
  check(/^wss?:\/\/[^\s/]+/.test(url), 'server.url', `must be a ws:// or wss:// address, got ${JSON.stringify(url.slice(0, 80))}`);
  return {
    settings: {
      name,
      model: oneOf(o, 'model', 'site', 'mlp', ['mlp', 'cnn'] as const),
      teachers: num(o, 'teachers', 'site', 1, { int: true, min: 1, max: FIELD_LIMITS.maxTeachers }),
      local: {
        epochs: num(local, 'epochs', 'local', 2, { int: true, min: 0 }),
        batchSize: num(local, 'batch', 'local', 64, { int: true, min: 1 }),
        lr: num(local, 'lr', 'local', 1e-3, { min: 0, exclusiveMin: true }),
        optimizer: oneOf(local, 'optimizer', 'local', 'adam', ['sgd', 'adam', 'adamw'] as const),
      },
      digest: {
        epochs: num(digest, 'epochs', 'digest', 2, { int: true, min: 0 }),
        revisitEpochs: num(digest, 'revisit_epochs', 'digest', 0, { int: true, min: 0 }),
        privateMix: num(digest, 'private_mix', 'digest', 2000, { int: true, min: 0 }),
        temperature: num(digest, 'temperature', 'digest', 1, { min: 0, exclusiveMin: true }),
      },
      policy: {
        clip: num(policy, 'clip', 'policy', 1, { min: 0, exclusiveMin: true }),
        localNoiseMultiplier: num(policy, 'local_noise_multiplier', 'policy', 0, { min: 0 }),
        ...(policy.competence !== undefined && policy.competence !== null && policy.competence !== false ? { competence: competenceOf(policy.competence) } : {}),
        ...(policy.epsilon !== undefined && policy.epsilon !== null ? { epsilon: num(policy, 'epsilon', 'policy', undefined, { min: 0, exclusiveMin: true }) } : {}),
        ...(policy.delta !== undefined && policy.delta !== null ? { delta: num(policy, 'delta', 'policy', undefined, { min: 0, exclusiveMin: true, max: 0.1 }) } : {}),
      },
      seed: num(o, 'seed', 'site', 1, { int: true, min: 0 }),
      device: oneOf(o, 'device', 'site', 'cpu', DEVICES),
      ...(o.threads !== undefined && o.threads !== null ? { threads: num(o, 'threads', 'site', undefined, { int: true, min: 1 }) } : {}),
    },
    identity: at(str(o, 'identity', 'site')),
    server: { url, publicKey: str(server, 'public_key', 'server') },
    data: dataOf(o, at),
    publicSet: str(o, 'public_set', 'site'),
    ...(o.eval_set !== undefined && o.eval_set !== null ? { evalSet: str(o, 'eval_set', 'site') } : {}),
    ledger: at(str(o, 'ledger', 'site', `${name}.ledger.jsonl`)),
    ...(o.teacher_onnx !== undefined && o.teacher_onnx !== null ? { teacherOnnx: at(str(o, 'teacher_onnx', 'site')) } : {}),
    ...(o.student_out !== undefined && o.student_out !== null ? { studentOut: at(str(o, 'student_out', 'site')) } : {}),
  };
}

/** Reads and validates site.yaml (or .json). */
export function loadSiteConfig(path: string): SiteConfig {
  const raw = readYamlFile(path, 'site config');
  return validateSiteConfig(raw, dirname(resolve(path)));
}
