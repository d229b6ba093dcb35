// Site models a scenario can name: the reference mlp/cnn, smaller MLPs for scale runs, or an inline layer list.
import { type LayerSpec, type ModelSpec, validateSpec } from '../shared/ml/index.ts';
import { check } from '../shared/util/errors.ts';

/** A model name, or `{ layers: [...] }` (input shape and class count come from the dataset). */
export type SimModel = string | { name?: string; layers: LayerSpec[] };

const mlpOf = (...hidden: number[]) => (classes: number): LayerSpec[] => [
  { type: 'flatten' },
  ...hidden.flatMap((units): LayerSpec[] => [{ type: 'dense', units }, { type: 'relu' }]),
  { type: 'dense', units: classes },
];

/** Extra named models: small enough that hundreds of sites fit in one process. */
const NAMED: Record<string, (classes: number) => LayerSpec[]> = {
  'mlp-small': mlpOf(128),
  'mlp-tiny': mlpOf(32),
  'mlp-wide': mlpOf(1024),
  'logreg': mlpOf(),
};

/** Names accepted by `sites.model(s)`: `mlp` and `cnn` are the engine's reference models. */
export const SIM_MODEL_NAMES = ['mlp', 'cnn', ...Object.keys(NAMED)] as const;

/** Checks a scenario's model entry (a known name, or a mapping with a layers list). */
export function validateSimModel(v: unknown, field: string): SimModel {
  if (typeof v === 'string') {
    check((SIM_MODEL_NAMES as readonly string[]).includes(v), field, `unknown model "${v}"; use one of ${SIM_MODEL_NAMES.join(', ')} or { layers: [...] }`, 'E_SCENARIO_INVALID');
    return v;
  }
  check(v !== null && typeof v === 'object' && Array.isArray((v as { layers?: unknown }).layers), field,
    'must be a model name or a mapping with a layers list', 'E_SCENARIO_INVALID');
  return v as SimModel;
}

/** A display name for reports. */
export function simModelName(m: SimModel): string {
  return typeof m === 'string' ? m : m.name ?? `custom(${m.layers.length} layers)`;
}

/** What SiteAgent / buildModel take: a reference name, or a full spec validated against the data shape. */
export function resolveSimModel(m: SimModel, input: readonly number[], classes: number): 'mlp' | 'cnn' | ModelSpec {
  if (m === 'mlp' || m === 'cnn') return m;
  const layers = typeof m === 'string' ? NAMED[m]!(classes) : m.layers;
  const spec: ModelSpec = { input: [...input], classes, layers };
  validateSpec(spec);
  return spec;
}
