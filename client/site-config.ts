// The site agent's configuration (site.yaml): identity, aggregator, private data, model, local policy.
import { dirname, resolve } from 'node:path';
import { readYamlFile } from '../shared/util/yaml-file.ts';
import { wrongConfigKind } from '../shared/util/config-kind.ts';
import { CONFIG_FILE_FIELDS, type ConfigFields, type Obj } from '../shared/util/config-fields.ts';
import { PARTITION_SCHEMES, unusedPartitionParam } from '../shared/data/partition-common.ts';
import { sharedSamplesIfResolvable } from '../shared/data/catalog.ts';
import { FIELD_LIMITS, type ConnectionLimits } from '../protocols/limits.ts';
import { SITE_NAME_PATTERN } from '../protocols/validators.ts';
import type { SiteSettings } from './site-agent.ts';
import { competenceSettingsAt } from './domain-competence.ts';
import { connectionLimitsAt } from '../shared/channel/connection-limits.ts';
import { decodePublicKey } from '../shared/crypto/identity.ts';
import { MAX_TEMPERATURE, MIN_TEMPERATURE } from '../shared/ml/train-data.ts';

const isPublicKey = (text: string): boolean => {
  try { decodePublicKey(text); return true; } catch { return false; }
};

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
  /** Overrides of the channel's per-connection limits (`connection_limits`, docs/channel.md); undefined: the defaults. */
  connectionLimits?: Partial<ConnectionLimits>;
}

/** Every key site.yaml knows, per section (local, digest: below; policy.competence: client/domain-competence.ts): anything else is a typo and is refused, never ignored. */
const KNOWN = {
  site: ['name', 'identity', 'server', 'data', 'public_set', 'eval_set', 'model', 'teachers', 'teacher_onnx', 'local', 'digest', 'policy', 'ledger', 'student_out', 'device', 'threads', 'seed', 'connection_limits'],
  server: ['url', 'public_key'],
  data: ['dataset', 'file', 'shape', 'classes', 'partition'],
  'data.partition': ['scheme', 'clients', 'index', 'seed', 'alpha', 'shards'],
  policy: ['clip', 'local_noise_multiplier', 'competence', 'epsilon', 'delta', 'share_metrics'],
} as const;

const DEVICES = ['cpu', 'webgpu', 'cuda', 'auto'] as const;

const { root, onlyKeys, section, numberAt: num, stringAt: str, optionalNumberAt, optionalStringAt, checkField, booleanAt } = CONFIG_FILE_FIELDS;

/**
 * A site's local training section (site.yaml `local`, scenario `sites.local`): one set of keys,
 * rules and defaults for deployments and simulations; `fields` gives the file format's codes.
 */
export function localTrainingAt(parent: Obj, field: string, fields: ConfigFields): SiteSettings['local'] {
  const local = fields.section(parent, 'local', field, ['epochs', 'batch', 'lr', 'optimizer']);
  return {
    epochs: fields.numberAt(local, 'epochs', field, 2, { int: true, min: 0 }),
    batchSize: fields.numberAt(local, 'batch', field, 64, { int: true, min: 1 }),
    lr: fields.numberAt(local, 'lr', field, 1e-3, { min: 0, exclusiveMin: true }),
    optimizer: fields.stringAt(local, 'optimizer', field, 'adam', ['sgd', 'adam', 'adamw'] as const),
  };
}

/** A site's digest section (site.yaml `digest`, scenario `sites.digest`): how the consensus is learned. */
export function digestAt(parent: Obj, field: string, fields: ConfigFields): SiteSettings['digest'] {
  const digest = fields.section(parent, 'digest', field, ['epochs', 'revisit_epochs', 'private_mix', 'temperature']);
  return {
    epochs: fields.numberAt(digest, 'epochs', field, 2, { int: true, min: 0 }),
    revisitEpochs: fields.numberAt(digest, 'revisit_epochs', field, 0, { int: true, min: 0 }),
    privateMix: fields.numberAt(digest, 'private_mix', field, 2000, { int: true, min: 0 }),
    temperature: fields.numberAt(digest, 'temperature', field, 1, { min: MIN_TEMPERATURE, max: MAX_TEMPERATURE }),
  };
}

/** data: a split spec, or a CSV file with its shape and class count; never both (one would be silently unused). */
function dataOf(o: Obj, at: (f: string) => string): SiteConfig['data'] {
  const data = section(o, 'data', 'data', KNOWN.data);
  checkField(data.dataset !== undefined || data.file !== undefined, 'data.dataset', 'is required (or data.file for a CSV file)');
  checkField(data.dataset === undefined || data.file === undefined, 'data', 'give data.dataset or data.file, not both');
  if (data.file === undefined) {
    for (const k of ['shape', 'classes']) checkField(data[k] === undefined, `data.${k}`, 'is used only with data.file; remove it');
  }
  let partition: SiteConfig['data']['partition'];
  if (data.partition !== undefined && data.partition !== null) {
    const f = 'data.partition';
    const p = section(data, 'partition', f, KNOWN[f]);
    const clients = num(p, 'clients', f, undefined, { int: true, min: 1 });
    const alpha = optionalNumberAt(p, 'alpha', f, { min: 0, exclusiveMin: true });
    const shards = optionalNumberAt(p, 'shards', f, { int: true, min: 1 });
    const scheme = str(p, 'scheme', f, undefined, PARTITION_SCHEMES);
    // a parameter the scheme does not read would be ignored: refuse it, as scenarios do
    for (const [key, v] of [['alpha', alpha], ['shards', shards]] as const) {
      const why = v === undefined ? undefined : unusedPartitionParam(scheme, key);
      checkField(why === undefined, `${f}.${key}`, why ?? '');
    }
    partition = {
      scheme,
      clients,
      index: num(p, 'index', f, undefined, { int: true, min: 0, max: clients - 1 }),
      seed: num(p, 'seed', f, 1, { int: true, min: 0 }),
      ...(alpha !== undefined ? { alpha } : {}),
      ...(shards !== undefined ? { shards } : {}),
    };
  }
  const shape = (): number[] => {
    const v = data.shape ?? [1, 28, 28];
    checkField(Array.isArray(v) && v.length > 0 && v.every((d) => Number.isSafeInteger(d) && (d as number) > 0), 'data.shape', 'must be a list of positive integers');
    return v as number[];
  };
  return {
    ...(data.file !== undefined
      ? { file: at(str(data, 'file', 'data')), shape: shape(), classes: num(data, 'classes', 'data', 10, { int: true, min: 2 }) }
      : { dataset: str(data, 'dataset', 'data') }),
    ...(partition ? { partition } : {}),
  };
}

/**
 * A site's private data (data.dataset) must share no sample with the public set, whose answers
 * leave the site, nor with its eval set, which would report inflated accuracy: both are refused,
 * naming the shared range.
 */
function checkDisjoint(dataset: string | undefined, publicSet: string, evalSet: string | undefined, checkField: (ok: boolean, field: string, why: string) => void): void {
  if (dataset === undefined) return; // a CSV file: not in the catalogue
  const pub = sharedSamplesIfResolvable(dataset, publicSet);
  checkField(pub === undefined, 'public_set', `${publicSet} shares ${pub} with data.dataset ${dataset}: this site's answers on public samples are released, so its private samples must not be among them; give disjoint ranges`);
  const ev = evalSet === undefined ? undefined : sharedSamplesIfResolvable(dataset, evalSet);
  checkField(ev === undefined, 'eval_set', `${evalSet} shares ${ev} with data.dataset ${dataset}: the local models train on those samples, so their accuracy there would be inflated; give disjoint ranges`);
}

/** Validates a parsed site config; relative paths resolve against `baseDir`. */
export function validateSiteConfig(raw: unknown, baseDir = process.cwd()): SiteConfig {
  const o = root(raw, 'site');
  onlyKeys(o, KNOWN.site, 'site');
  const server = section(o, 'server', 'server', KNOWN.server);
  const policy = section(o, 'policy', 'policy', KNOWN.policy);
  const at = (f: string) => resolve(baseDir, f);
  const name = str(o, 'name', 'site');
  // the name is what the aggregator's allowlist maps this site's key to; one it would refuse is caught here
  checkField(SITE_NAME_PATTERN.test(name), 'site.name', `must be 1–64 letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${JSON.stringify(name.slice(0, 40))}`);
  const url = str(server, 'url', 'server');
  const serverKey = str(server, 'public_key', 'server');
  // a malformed pin is a config error (exit 2), caught before any training, like every other field
  checkField(isPublicKey(serverKey), 'server.public_key', `"${serverKey.trim().slice(0, 60)}" is not a base64 Ed25519 public key (32 bytes); copy the aggregator's from \`fedistill keys show AGGREGATOR_KEY\``);
  checkField(/^wss?:\/\/[^\s/]+/.test(url), 'server.url', `must be a ws:// or wss:// address, got ${JSON.stringify(url.slice(0, 80))}`);
  const competence = competenceSettingsAt(policy.competence, 'policy.competence', CONFIG_FILE_FIELDS);
  const epsilon = optionalNumberAt(policy, 'epsilon', 'policy', { min: 0, exclusiveMin: true });
  const delta = optionalNumberAt(policy, 'delta', 'policy', { min: 0, exclusiveMin: true, max: 0.1 });
  const threads = optionalNumberAt(o, 'threads', 'site', { int: true, min: 1 });
  const evalSet = optionalStringAt(o, 'eval_set', 'site');
  const teacherOnnx = optionalStringAt(o, 'teacher_onnx', 'site');
  const studentOut = optionalStringAt(o, 'student_out', 'site');
  const connectionLimits = connectionLimitsAt(o.connection_limits);
  const data = dataOf(o, at);
  const publicSet = str(o, 'public_set', 'site');
  checkDisjoint(data.dataset, publicSet, evalSet, checkField);
  return {
    settings: {
      name,
      model: str(o, 'model', 'site', 'mlp', ['mlp', 'cnn'] as const),
      teachers: num(o, 'teachers', 'site', 1, { int: true, min: 1, max: FIELD_LIMITS.maxTeachers }),
      local: localTrainingAt(o, 'local', CONFIG_FILE_FIELDS),
      digest: digestAt(o, 'digest', CONFIG_FILE_FIELDS),
      policy: {
        clip: num(policy, 'clip', 'policy', 1, { min: 0, exclusiveMin: true }),
        localNoiseMultiplier: num(policy, 'local_noise_multiplier', 'policy', 0, { min: 0 }),
        shareMetrics: booleanAt(policy, 'share_metrics', 'policy', false),
        ...(competence ? { competence } : {}),
        ...(epsilon !== undefined ? { epsilon } : {}),
        ...(delta !== undefined ? { delta } : {}),
      },
      seed: num(o, 'seed', 'site', 1, { int: true, min: 0 }),
      device: str(o, 'device', 'site', 'cpu', DEVICES),
      ...(threads !== undefined ? { threads } : {}),
    },
    identity: at(str(o, 'identity', 'site')),
    server: { url, publicKey: serverKey },
    data,
    publicSet,
    ...(evalSet !== undefined ? { evalSet } : {}),
    ledger: at(str(o, 'ledger', 'site', `${name}.ledger.jsonl`)),
    ...(teacherOnnx !== undefined ? { teacherOnnx: at(teacherOnnx) } : {}),
    ...(studentOut !== undefined ? { studentOut: at(studentOut) } : {}),
    ...(connectionLimits ? { connectionLimits } : {}),
  };
}

/** Reads and validates site.yaml (or .json). */
export function loadSiteConfig(path: string): SiteConfig {
  const raw = readYamlFile(path, 'site config');
  try { return validateSiteConfig(raw, dirname(resolve(path))); } catch (e) { throw wrongConfigKind(e, raw, path, 'site'); }
}
