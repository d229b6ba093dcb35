// Attack scenarios (simulations/scenarios/attack-*.yaml): the canary-exposure and membership-inference runs, validated, with defaults.
import { readYamlFile } from '../../util/yaml-file.ts';
import { FedistillError, check } from '../../util/errors.ts';
import type { SwingPolicy } from '../../privacy/swing-temperature.ts';
import { type ReleasePolicy, checkReleasePolicy } from './teacher-release.ts';

type Obj = Record<string, unknown>;
const CODE = 'E_SCENARIO_INVALID';

/** How one kind of model is trained: an MLP with these hidden widths. */
export interface TrainSettings { epochs: number; batch: number; lr: number }

export interface CanaryScenario {
  /** Private pool split IID over the sites (a split spec); site 1 also holds the canaries. */
  privateSet: string;
  /** Public transfer set; the canaries' near-duplicates are appended to it. */
  publicSet: string;
  /** Held-out set the students' accuracy is reported on. */
  evalSet: string;
  sites: number;
  hidden: number[];
  teacher: TrainSettings;
  student: TrainSettings;
  canaries: { count: number; digits: number; privateCopies: number; publicCopies: number; density: number; flip: number };
  /** Named release policies; `plain` ({}) is always run, as the reference. */
  releases: Record<string, ReleasePolicy>;
  /** The release whose exposure reduction is the headline (and the pass/fail criterion). */
  compare: string;
  /** Reduction (1 − exposure/plain exposure) the `compare` release must reach. */
  targetReduction: number;
}

export interface MembershipScenario {
  /** The teachers' private data: the members the guarantee protects (split into `teachers` shards). */
  privateSet: string;
  /** Same-distribution samples no model saw: the non-members. */
  heldoutSet: string;
  /** Public queries, answered by noisy argmax, in order. */
  publicSet: string;
  evalSet: string;
  teachers: number;
  queries: number;
  /** Target ε of the label release (GNMax noise is calibrated to it, data-independent). */
  epsilon: number;
  hidden: number[];
  teacher: TrainSettings;
  student: TrainSettings;
  /** Members and non-members scored by the attack (each). */
  attackSamples: number;
  /** Pass when |AUC − 0.5| ≤ this. */
  aucTolerance: number;
}

export interface AttackScenario {
  name: string;
  description: string;
  /** Each seed is a full, independent run (partition, canaries, inits, shuffles). */
  seeds: number[];
  delta: number;
  /** Confidence of the ε lower bound (Clopper–Pearson). */
  confidence: number;
  /** Seeds privacy noise for reproducible tests: NOT private; reports say so. */
  testNoiseSeed?: number;
  canary?: CanaryScenario;
  membership?: MembershipScenario;
}

function mapping(v: unknown, field: string, optional = false): Obj {
  if (v === undefined && optional) return {};
  check(v !== null && typeof v === 'object' && !Array.isArray(v), field, `must be a mapping, got ${JSON.stringify(v)}`, CODE);
  return v as Obj;
}

function onlyKeys(o: Obj, known: readonly string[], field: string): void {
  for (const k of Object.keys(o)) check(known.includes(k), `${field}.${k}`, `is not a known setting (known: ${known.join(', ')})`, CODE);
}

function num(o: Obj, key: string, field: string, def: number | undefined, rule: { min?: number; max?: number; int?: boolean; above?: number } = {}): number {
  const v = o[key] ?? def;
  const at = `${field}.${key}`;
  check(v !== undefined, at, 'is required', CODE);
  check(typeof v === 'number' && Number.isFinite(v), at, `must be a number, got ${JSON.stringify(v)}`, CODE);
  const n = v as number;
  if (rule.int) check(Number.isSafeInteger(n), at, `must be an integer, got ${n}`, CODE);
  if (rule.min !== undefined) check(n >= rule.min, at, `must be ≥ ${rule.min}, got ${n}`, CODE);
  if (rule.above !== undefined) check(n > rule.above, at, `must be > ${rule.above}, got ${n}`, CODE);
  if (rule.max !== undefined) check(n <= rule.max, at, `must be ≤ ${rule.max}, got ${n}`, CODE);
  return n;
}

function str(o: Obj, key: string, field: string, def?: string): string {
  const v = o[key] ?? def;
  check(typeof v === 'string' && v.length > 0, `${field}.${key}`, v === undefined ? 'is required' : `must be a string, got ${JSON.stringify(v)}`, CODE);
  return v as string;
}

function hiddenAt(o: Obj, field: string): number[] {
  const v = o.hidden ?? [128];
  check(Array.isArray(v) && v.every((u) => Number.isSafeInteger(u) && (u as number) > 0), `${field}.hidden`, 'must be a list of positive layer widths, e.g. [128]', CODE);
  return v as number[];
}

function trainAt(o: Obj, key: string, field: string, def: TrainSettings): TrainSettings {
  const t = mapping(o[key], `${field}.${key}`, true);
  const at = `${field}.${key}`;
  onlyKeys(t, ['epochs', 'batch', 'lr'], at);
  return {
    epochs: num(t, 'epochs', at, def.epochs, { int: true, min: 1 }),
    batch: num(t, 'batch', at, def.batch, { int: true, min: 1 }),
    lr: num(t, 'lr', at, def.lr, { above: 0 }),
  };
}

function swingAt(v: unknown, field: string): SwingPolicy {
  const s = mapping(v, field);
  onlyKeys(s, ['risk', 'min_temperature', 'max_temperature', 'risk_floor'], field);
  const risk = str(s, 'risk', field, 'confidence');
  check(risk === 'confidence' || risk === 'margin', `${field}.risk`, `must be confidence or margin, got "${risk}"`, CODE);
  return {
    risk,
    minTemperature: num(s, 'min_temperature', field, 1, { above: 0 }),
    maxTemperature: num(s, 'max_temperature', field, 20, { above: 0 }),
    riskFloor: num(s, 'risk_floor', field, 0, { min: 0, max: 0.999 }),
  };
}

function releaseAt(v: unknown, field: string): ReleasePolicy {
  const r = mapping(v ?? {}, field);
  onlyKeys(r, ['clip', 'noise_multiplier', 'swing', 'entropy_reduction_temperature'], field);
  const p: ReleasePolicy = {};
  if (r.clip !== undefined) p.clip = num(r, 'clip', field, undefined, { above: 0 });
  if (r.noise_multiplier !== undefined) p.noiseMultiplier = num(r, 'noise_multiplier', field, undefined, { above: 0 });
  if (r.entropy_reduction_temperature !== undefined) p.entropyReductionTemperature = num(r, 'entropy_reduction_temperature', field, undefined, { above: 0 });
  if (r.swing !== undefined) p.swing = swingAt(r.swing, `${field}.swing`);
  checkReleasePolicy(p, field);
  return p;
}

function canaryAt(o: Obj): CanaryScenario {
  const f = 'canary';
  onlyKeys(o, ['private_set', 'public_set', 'eval_set', 'sites', 'hidden', 'teacher', 'student', 'canaries', 'releases', 'compare', 'target_reduction'], f);
  const c = mapping(o.canaries, `${f}.canaries`, true);
  onlyKeys(c, ['count', 'digits', 'private_copies', 'public_copies', 'density', 'flip'], `${f}.canaries`);
  const rel = mapping(o.releases, `${f}.releases`, true);
  const releases: Record<string, ReleasePolicy> = { plain: {} };
  for (const [name, v] of Object.entries(rel)) releases[name] = releaseAt(v, `${f}.releases.${name}`);
  check(Object.keys(releases.plain!).length === 0, `${f}.releases.plain`, 'is the reference (teacher probabilities averaged as they are) and takes no settings', CODE);
  const compare = str(o, 'compare', f, Object.keys(releases).find((k) => k !== 'plain') ?? 'plain');
  check(compare in releases && compare !== 'plain', `${f}.compare`, `must name a release other than plain (have: ${Object.keys(releases).join(', ')})`, CODE);
  return {
    privateSet: str(o, 'private_set', f),
    publicSet: str(o, 'public_set', f),
    evalSet: str(o, 'eval_set', f),
    sites: num(o, 'sites', f, 4, { int: true, min: 2 }),
    hidden: hiddenAt(o, f),
    teacher: trainAt(o, 'teacher', f, { epochs: 20, batch: 32, lr: 0.002 }),
    student: trainAt(o, 'student', f, { epochs: 10, batch: 64, lr: 0.002 }),
    canaries: {
      count: num(c, 'count', `${f}.canaries`, 10, { int: true, min: 1 }),
      digits: num(c, 'digits', `${f}.canaries`, 6, { int: true, min: 1, max: 12 }),
      privateCopies: num(c, 'private_copies', `${f}.canaries`, 10, { int: true, min: 1 }),
      publicCopies: num(c, 'public_copies', `${f}.canaries`, 5, { int: true, min: 1 }),
      density: num(c, 'density', `${f}.canaries`, 0.3, { above: 0, max: 0.99 }),
      flip: num(c, 'flip', `${f}.canaries`, 0.05, { min: 0, max: 0.49 }),
    },
    releases,
    compare,
    targetReduction: num(o, 'target_reduction', f, 0.8, { min: 0, max: 1 }),
  };
}

function membershipAt(o: Obj): MembershipScenario {
  const f = 'membership';
  onlyKeys(o, ['private_set', 'heldout_set', 'public_set', 'eval_set', 'teachers', 'queries', 'epsilon', 'hidden', 'teacher', 'student', 'attack_samples', 'auc_tolerance'], f);
  return {
    privateSet: str(o, 'private_set', f),
    heldoutSet: str(o, 'heldout_set', f),
    publicSet: str(o, 'public_set', f),
    evalSet: str(o, 'eval_set', f),
    teachers: num(o, 'teachers', f, 100, { int: true, min: 2 }),
    queries: num(o, 'queries', f, 100, { int: true, min: 1 }),
    epsilon: num(o, 'epsilon', f, 2, { above: 0 }),
    hidden: hiddenAt(o, f),
    teacher: trainAt(o, 'teacher', f, { epochs: 30, batch: 32, lr: 0.002 }),
    student: trainAt(o, 'student', f, { epochs: 30, batch: 32, lr: 0.002 }),
    attackSamples: num(o, 'attack_samples', f, 1000, { int: true, min: 4 }),
    aucTolerance: num(o, 'auc_tolerance', f, 0.05, { above: 0, max: 0.5 }),
  };
}

/** Validates a parsed scenario document; every error names its field (E_SCENARIO_INVALID). */
export function parseAttackScenario(doc: unknown): AttackScenario {
  const o = mapping(doc, 'scenario');
  onlyKeys(o, ['name', 'description', 'seeds', 'delta', 'confidence', 'test_noise_seed', 'canary', 'membership'], 'scenario');
  const seeds = o.seeds ?? [1];
  check(Array.isArray(seeds) && seeds.length > 0 && seeds.every((s) => Number.isSafeInteger(s) && (s as number) >= 0), 'scenario.seeds', 'must be a non-empty list of non-negative integers', CODE);
  check(o.canary !== undefined || o.membership !== undefined, 'scenario', 'needs a canary or a membership section (or both)', CODE);
  const out: AttackScenario = {
    name: str(o, 'name', 'scenario'),
    description: typeof o.description === 'string' ? o.description : '',
    seeds: seeds as number[],
    delta: num(o, 'delta', 'scenario', 1e-5, { above: 0, max: 0.5 }),
    confidence: num(o, 'confidence', 'scenario', 0.95, { above: 0, max: 0.9999 }),
  };
  if (o.test_noise_seed !== undefined) out.testNoiseSeed = num(o, 'test_noise_seed', 'scenario', undefined, { int: true, min: 0 });
  if (o.canary !== undefined) out.canary = canaryAt(mapping(o.canary, 'canary'));
  if (o.membership !== undefined) out.membership = membershipAt(mapping(o.membership, 'membership'));
  return out;
}

/** Reads and validates a scenario file (E_FILE_NOT_FOUND, E_SCENARIO_INVALID). */
export function loadAttackScenario(path: string): AttackScenario {
  return parseAttackScenario(readYamlFile(path, 'scenario', {
    missingCode: 'E_FILE_NOT_FOUND', invalidCode: CODE, hint: '; pass an attack scenario such as simulations/scenarios/attack-mnist.yaml',
  }));
}
