// Attack scenarios (simulations/scenarios/attack-*.yaml): the canary-exposure and membership-inference runs, validated, with defaults.
import { type Obj, mapping, numberAt, onlyKeys, stringAt } from '../../util/scenario-fields.ts';
import { readYamlFile } from '../../util/yaml-file.ts';
import { check } from '../../util/errors.ts';
import { sharedSamplesIfResolvable } from '../../data/catalog.ts';
import type { SwingPolicy } from '../../privacy/swing-temperature.ts';
import { SUPPORT_GATE_DEFAULTS, type SupportGatePolicy } from '../../privacy/support-gate.ts';
import { type ReleasePolicy, checkReleasePolicy } from './teacher-release.ts';
import { MAX_TEMPERATURE, MIN_TEMPERATURE } from '../../ml/train-data.ts';

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
    epochs: numberAt(t, 'epochs', at, def.epochs, { int: true, min: 1 }),
    batch: numberAt(t, 'batch', at, def.batch, { int: true, min: 1 }),
    lr: numberAt(t, 'lr', at, def.lr, { min: 0 , exclusiveMin: true}),
  };
}

function swingAt(v: unknown, field: string): SwingPolicy {
  const s = mapping(v, field);
  onlyKeys(s, ['risk', 'min_temperature', 'max_temperature', 'risk_floor'], field);
  const risk = stringAt(s, 'risk', field, 'confidence');
  check(risk === 'confidence' || risk === 'margin', `${field}.risk`, `must be confidence or margin, got "${risk}"`, CODE);
  return {
    risk,
    minTemperature: numberAt(s, 'min_temperature', field, 1, { min: MIN_TEMPERATURE, max: MAX_TEMPERATURE }),
    maxTemperature: numberAt(s, 'max_temperature', field, 20, { min: MIN_TEMPERATURE, max: MAX_TEMPERATURE }),
    riskFloor: numberAt(s, 'risk_floor', field, 0, { min: 0, max: 0.999 }),
  };
}

function supportGateAt(v: unknown, field: string): SupportGatePolicy {
  const g = mapping(v, field);
  onlyKeys(g, ['min_support', 'neighbours', 'self_weight'], field);
  return {
    minSupport: numberAt(g, 'min_support', field, undefined, { min: 0, exclusiveMin: true }),
    neighbours: numberAt(g, 'neighbours', field, SUPPORT_GATE_DEFAULTS.neighbours, { int: true, min: 0 }),
    selfWeight: numberAt(g, 'self_weight', field, SUPPORT_GATE_DEFAULTS.selfWeight, { min: 0, exclusiveMin: true }),
  };
}

function releaseAt(v: unknown, field: string): ReleasePolicy {
  const r = mapping(v ?? {}, field);
  onlyKeys(r, ['clip', 'noise_multiplier', 'swing', 'support_gate', 'entropy_reduction_temperature'], field);
  const p: ReleasePolicy = {};
  if (r.clip !== undefined) p.clip = numberAt(r, 'clip', field, undefined, { min: 0 , exclusiveMin: true});
  if (r.noise_multiplier !== undefined) p.noiseMultiplier = numberAt(r, 'noise_multiplier', field, undefined, { min: 0 , exclusiveMin: true});
  if (r.entropy_reduction_temperature !== undefined) p.entropyReductionTemperature = numberAt(r, 'entropy_reduction_temperature', field, undefined, { min: 0 , exclusiveMin: true});
  if (r.swing !== undefined) p.swing = swingAt(r.swing, `${field}.swing`);
  if (r.support_gate !== undefined) p.supportGate = supportGateAt(r.support_gate, `${field}.support_gate`);
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
  const compare = stringAt(o, 'compare', f, Object.keys(releases).find((k) => k !== 'plain') ?? 'plain');
  check(compare in releases && compare !== 'plain', `${f}.compare`, `must name a release other than plain (have: ${Object.keys(releases).join(', ')})`, CODE);
  return {
    privateSet: stringAt(o, 'private_set', f),
    publicSet: stringAt(o, 'public_set', f),
    evalSet: stringAt(o, 'eval_set', f),
    sites: numberAt(o, 'sites', f, 4, { int: true, min: 2 }),
    hidden: hiddenAt(o, f),
    teacher: trainAt(o, 'teacher', f, { epochs: 20, batch: 32, lr: 0.002 }),
    student: trainAt(o, 'student', f, { epochs: 10, batch: 64, lr: 0.002 }),
    canaries: {
      count: numberAt(c, 'count', `${f}.canaries`, 10, { int: true, min: 1 }),
      digits: numberAt(c, 'digits', `${f}.canaries`, 6, { int: true, min: 1, max: 12 }),
      privateCopies: numberAt(c, 'private_copies', `${f}.canaries`, 10, { int: true, min: 1 }),
      publicCopies: numberAt(c, 'public_copies', `${f}.canaries`, 5, { int: true, min: 1 }),
      density: numberAt(c, 'density', `${f}.canaries`, 0.3, { min: 0, exclusiveMin: true, max: 0.99 }),
      flip: numberAt(c, 'flip', `${f}.canaries`, 0.05, { min: 0, max: 0.49 }),
    },
    releases,
    compare,
    targetReduction: numberAt(o, 'target_reduction', f, 0.8, { min: 0, max: 1 }),
  };
}

function membershipAt(o: Obj): MembershipScenario {
  const f = 'membership';
  onlyKeys(o, ['private_set', 'heldout_set', 'public_set', 'eval_set', 'teachers', 'queries', 'epsilon', 'hidden', 'teacher', 'student', 'attack_samples', 'auc_tolerance'], f);
  return {
    privateSet: stringAt(o, 'private_set', f),
    heldoutSet: stringAt(o, 'heldout_set', f),
    publicSet: stringAt(o, 'public_set', f),
    evalSet: stringAt(o, 'eval_set', f),
    teachers: numberAt(o, 'teachers', f, 100, { int: true, min: 2 }),
    queries: numberAt(o, 'queries', f, 100, { int: true, min: 1 }),
    epsilon: numberAt(o, 'epsilon', f, 2, { min: 0 , exclusiveMin: true}),
    hidden: hiddenAt(o, f),
    teacher: trainAt(o, 'teacher', f, { epochs: 30, batch: 32, lr: 0.002 }),
    student: trainAt(o, 'student', f, { epochs: 30, batch: 32, lr: 0.002 }),
    attackSamples: numberAt(o, 'attack_samples', f, 1000, { int: true, min: 4 }),
    aucTolerance: numberAt(o, 'auc_tolerance', f, 0.05, { min: 0, exclusiveMin: true, max: 0.5 }),
  };
}

/**
 * A section's data sets must be pairwise disjoint: a sample in both the private and the held-out
 * set would count as member and non-member, one in the public set would leave in releases as a
 * query, and one in the eval set would score a model on what it trained on.
 */
function checkDisjoint(section: string, sets: [field: string, spec: string][]): void {
  sets.forEach(([field, spec], i) => sets.slice(0, i).forEach(([otherField, other]) => {
    const common = sharedSamplesIfResolvable(spec, other);
    check(common === undefined, `${section}.${field}`, `${spec} shares ${common} with ${section}.${otherField} ${other}; the sets of an attack must be disjoint: use disjoint ranges`, CODE);
  }));
}

/** Validates a parsed scenario document; every error names its field (E_SCENARIO_INVALID). */
export function parseAttackScenario(doc: unknown): AttackScenario {
  const o = mapping(doc, 'scenario');
  onlyKeys(o, ['name', 'description', 'seeds', 'delta', 'confidence', 'test_noise_seed', 'canary', 'membership'], 'scenario');
  const seeds = o.seeds ?? [1];
  check(Array.isArray(seeds) && seeds.length > 0 && seeds.every((s) => Number.isSafeInteger(s) && (s as number) >= 0), 'scenario.seeds', 'must be a non-empty list of non-negative integers', CODE);
  check(o.canary !== undefined || o.membership !== undefined, 'scenario', 'needs a canary or a membership section (or both)', CODE);
  const out: AttackScenario = {
    name: stringAt(o, 'name', 'scenario'),
    description: typeof o.description === 'string' ? o.description : '',
    seeds: seeds as number[],
    delta: numberAt(o, 'delta', 'scenario', 1e-5, { min: 0, exclusiveMin: true, max: 0.5 }),
    confidence: numberAt(o, 'confidence', 'scenario', 0.95, { min: 0, exclusiveMin: true, max: 0.9999 }),
  };
  if (o.test_noise_seed !== undefined) out.testNoiseSeed = numberAt(o, 'test_noise_seed', 'scenario', undefined, { int: true, min: 0 });
  if (o.canary !== undefined) {
    const c = out.canary = canaryAt(mapping(o.canary, 'canary'));
    checkDisjoint('canary', [['private_set', c.privateSet], ['public_set', c.publicSet], ['eval_set', c.evalSet]]);
  }
  if (o.membership !== undefined) {
    const m = out.membership = membershipAt(mapping(o.membership, 'membership'));
    checkDisjoint('membership', [['private_set', m.privateSet], ['heldout_set', m.heldoutSet], ['public_set', m.publicSet], ['eval_set', m.evalSet]]);
  }
  return out;
}

/** Reads and validates a scenario file (E_FILE_NOT_FOUND, E_SCENARIO_INVALID). */
export function loadAttackScenario(path: string): AttackScenario {
  return parseAttackScenario(readYamlFile(path, 'scenario', {
    missingCode: 'E_FILE_NOT_FOUND', invalidCode: CODE, hint: '; pass an attack scenario such as simulations/scenarios/attack-mnist.yaml',
  }));
}
