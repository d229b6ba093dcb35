// The site agent's configuration (site.yaml): identity, aggregator, private data, model, local policy.
import { dirname, resolve } from 'node:path';
import { readYamlFile } from '../shared/util/yaml-file.ts';
import { check } from '../shared/util/errors.ts';
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

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function get<T>(o: Obj, key: string, field: string, type: 'string' | 'number', def?: T): T {
  const v = o[key] ?? def;
  check(v !== undefined, `${field}.${key}`, 'is required');
  check(typeof v === type && (type !== 'number' || Number.isFinite(v)), `${field}.${key}`, `must be a ${type}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** policy.competence: true → defaults; a mapping → its fields over the defaults (client/domain-competence.ts). */
function competenceOf(v: unknown): CompetenceSettings {
  const m = isObj(v) ? v : {};
  check(v === true || isObj(v), 'policy.competence', 'must be true, false or a mapping');
  const d = COMPETENCE_DEFAULTS;
  const c: CompetenceSettings = {
    epochs: get<number>(m, 'epochs', 'policy.competence', 'number', d.epochs),
    fullWeightRatio: get<number>(m, 'full_weight_ratio', 'policy.competence', 'number', d.fullWeightRatio),
    hidden: get<number>(m, 'hidden', 'policy.competence', 'number', d.hidden),
    maxPublicSamples: get<number>(m, 'max_public_samples', 'policy.competence', 'number', d.maxPublicSamples),
  };
  validateCompetence(c);
  return c;
}

/** Validates a parsed site config; relative paths resolve against `baseDir`. */
export function validateSiteConfig(raw: unknown, baseDir = process.cwd()): SiteConfig {
  check(isObj(raw), 'site', 'must be a mapping');
  const o = raw as Obj;
  const server = isObj(o.server) ? o.server : {};
  const data = isObj(o.data) ? o.data : {};
  const local = isObj(o.local) ? o.local : {};
  const digest = isObj(o.digest) ? o.digest : {};
  const policy = isObj(o.policy) ? o.policy : {};
  const part = isObj(data.partition) ? data.partition : undefined;
  const at = (f: string) => resolve(baseDir, f);
  const name = get<string>(o, 'name', 'site', 'string');
  const optimizer = get<string>(local, 'optimizer', 'local', 'string', 'adam');
  check(['sgd', 'adam', 'adamw'].includes(optimizer), 'local.optimizer', `must be sgd, adam or adamw, got "${optimizer}"`);
  const model = get<string>(o, 'model', 'site', 'string', 'mlp');
  check(['mlp', 'cnn'].includes(model), 'site.model', `must be mlp or cnn, got "${model}"`);
  return {
    settings: {
      name,
      model: model as 'mlp' | 'cnn',
      teachers: get<number>(o, 'teachers', 'site', 'number', 1),
      local: {
        epochs: get<number>(local, 'epochs', 'local', 'number', 2),
        batchSize: get<number>(local, 'batch', 'local', 'number', 64),
        lr: get<number>(local, 'lr', 'local', 'number', 1e-3),
        optimizer: optimizer as 'sgd' | 'adam' | 'adamw',
      },
      digest: {
        epochs: get<number>(digest, 'epochs', 'digest', 'number', 2),
        revisitEpochs: get<number>(digest, 'revisit_epochs', 'digest', 'number', 0),
        privateMix: get<number>(digest, 'private_mix', 'digest', 'number', 2000),
        temperature: get<number>(digest, 'temperature', 'digest', 'number', 1),
      },
      policy: {
        clip: get<number>(policy, 'clip', 'policy', 'number', 1),
        localNoiseMultiplier: get<number>(policy, 'local_noise_multiplier', 'policy', 'number', 0),
        ...(policy.competence !== undefined && policy.competence !== false ? { competence: competenceOf(policy.competence) } : {}),
      },
      seed: get<number>(o, 'seed', 'site', 'number', 1),
      device: get<string>(o, 'device', 'site', 'string', 'cpu') as SiteSettings['device'],
      ...(o.threads !== undefined ? { threads: get<number>(o, 'threads', 'site', 'number') } : {}),
    },
    identity: at(get<string>(o, 'identity', 'site', 'string')),
    server: { url: get<string>(server, 'url', 'server', 'string'), publicKey: get<string>(server, 'public_key', 'server', 'string') },
    data: {
      ...(data.file !== undefined
        ? {
          file: at(get<string>(data, 'file', 'data', 'string')),
          shape: ((): number[] => {
            const v = data.shape ?? [1, 28, 28];
            check(Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && (d as number) > 0), 'data.shape', 'must be a list of positive integers');
            return v as number[];
          })(),
          classes: get<number>(data, 'classes', 'data', 'number', 10),
        }
        : { dataset: get<string>(data, 'dataset', 'data', 'string') }),
      ...(part ? { partition: {
        scheme: get<string>(part, 'scheme', 'data.partition', 'string'),
        clients: get<number>(part, 'clients', 'data.partition', 'number'),
        index: get<number>(part, 'index', 'data.partition', 'number'),
        seed: get<number>(part, 'seed', 'data.partition', 'number', 1),
        ...(part.alpha !== undefined ? { alpha: get<number>(part, 'alpha', 'data.partition', 'number') } : {}),
        ...(part.shards !== undefined ? { shards: get<number>(part, 'shards', 'data.partition', 'number') } : {}),
      } } : {}),
    },
    publicSet: get<string>(o, 'public_set', 'site', 'string'),
    ...(o.eval_set !== undefined ? { evalSet: get<string>(o, 'eval_set', 'site', 'string') } : {}),
    ledger: at(get<string>(o, 'ledger', 'site', 'string', `${name}.ledger.jsonl`)),
    ...(o.teacher_onnx !== undefined ? { teacherOnnx: at(get<string>(o, 'teacher_onnx', 'site', 'string')) } : {}),
    ...(o.student_out !== undefined ? { studentOut: at(get<string>(o, 'student_out', 'site', 'string')) } : {}),
  };
}

export function loadSiteConfig(path: string): SiteConfig {
  const raw = readYamlFile(path, 'site config');
  return validateSiteConfig(raw, dirname(resolve(path)));
}
