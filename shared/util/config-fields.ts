// Typed readers for YAML config fields (run.yaml, site.yaml, scenarios): full field paths, ranges and did-you-mean in every error, stable codes per format.
import { check } from './errors.ts';
import { didYouMean } from './suggest.ts';

export type Obj = Record<string, unknown>;

/** Bounds on a number; `exclusiveMin` makes `min` strict (> rather than ≥). */
export interface NumberRule { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean }

/** The stable codes a config format reports: one for an unknown key (a typo), one for a wrong value. */
export interface FieldCodes { unknownKey: string; invalid: string }

/** A code name as YAML configs write it: maxFrameBytes → max_frame_bytes, strategy.queriesPerRound → strategy.queries_per_round. */
export const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`);

/** True for a YAML mapping (not null, not a list). */
export function isMapping(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A value as an error message shows it: JSON, cut short so that the message stays one readable line. */
export function shown(v: unknown): string {
  if (typeof v === 'number' || v === undefined) return String(v);
  let s: string;
  try { s = JSON.stringify(v) ?? String(v); } catch { s = String(v); }
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/**
 * Readers for one config format. Every reader names the full field path (`field.key`), treats an
 * absent or null (empty in YAML) value as "use the default", and fails with the format's code.
 */
export interface ConfigFields {
  readonly codes: FieldCodes;
  /** Fails (with the format's invalid-value code) unless `ok`. */
  checkField(ok: boolean, field: string, why: string): void;
  /** The whole document: it must be a mapping. */
  root(v: unknown, field: string): Obj;
  /** A mapping at `field`; absent or null reads as `{}` when `optional`, else "is required". */
  mapping(v: unknown, field: string, optional?: boolean): Obj;
  /** Fails on keys the format does not know, with a did-you-mean: a typo must not be silently ignored. */
  onlyKeys(o: Obj, known: readonly string[], field: string): void;
  /** `o[key]` as a mapping whose keys are all in `known` (optional sections read as `{}`). */
  section(o: Obj, key: string, field: string, known: readonly string[], optional?: boolean): Obj;
  /** A finite number in range (default when absent; required when the default is undefined). */
  numberAt(o: Obj, key: string, field: string, def: number | undefined, rule?: NumberRule): number;
  /** An optional number: undefined when absent. */
  optionalNumberAt(o: Obj, key: string, field: string, rule?: NumberRule): number | undefined;
  /** A non-empty string, optionally one of `choices` (a near miss gets a did-you-mean). */
  stringAt<T extends string = string>(o: Obj, key: string, field: string, def?: T, choices?: readonly T[]): T;
  /** An optional non-empty string: undefined when absent. */
  optionalStringAt(o: Obj, key: string, field: string): string | undefined;
  /** A boolean (default when absent). */
  booleanAt(o: Obj, key: string, field: string, def: boolean): boolean;
  /** A list (empty when absent). */
  listAt(o: Obj, key: string, field: string): unknown[];
}

const absent = (v: unknown): v is undefined | null => v === undefined || v === null;

/** What is wrong with `n` under `rule` (the bound it breaks, and `n`), or undefined when it is in range. */
function ruleViolation(n: number, rule: NumberRule): string | undefined {
  if (rule.int && !Number.isSafeInteger(n)) return `must be an integer, got ${n}`;
  if (rule.min !== undefined && (rule.exclusiveMin ? !(n > rule.min) : !(n >= rule.min))) return `must be ${rule.exclusiveMin ? '>' : '≥'} ${rule.min}, got ${n}`;
  if (rule.max !== undefined && !(n <= rule.max)) return `must be ≤ ${rule.max}, got ${n}`;
  return undefined;
}

/** Builds the readers of a config format that reports with `codes`. */
export function configFields(codes: FieldCodes): ConfigFields {
  const fail = (ok: boolean, field: string, why: string): void => check(ok, field, why, codes.invalid);
  const mapping = (v: unknown, field: string, optional = false): Obj => {
    if (absent(v) && optional) return {};
    fail(v !== undefined, field, 'is required');
    fail(v !== null, field, 'is empty; give its settings as a mapping');
    fail(isMapping(v), field, `must be a mapping, got ${shown(v)}`);
    return v as Obj;
  };
  const onlyKeys = (o: Obj, known: readonly string[], field: string): void => {
    for (const k of Object.keys(o)) {
      check(known.includes(k), `${field}.${k}`, `is not a known setting${didYouMean(k, known)} (known: ${known.join(', ')})`, codes.unknownKey);
    }
  };
  const numberAt = (o: Obj, key: string, field: string, def: number | undefined, rule: NumberRule = {}): number => {
    const v = o[key] ?? def;
    const at = `${field}.${key}`;
    fail(v !== undefined, at, 'is required');
    fail(typeof v === 'number' && Number.isFinite(v), at, `must be a number, got ${shown(v)}`);
    const why = ruleViolation(v as number, rule);
    fail(why === undefined, at, why!);
    return v as number;
  };
  const stringAt = <T extends string = string>(o: Obj, key: string, field: string, def?: T, choices?: readonly T[]): T => {
    const v = o[key] ?? def;
    const at = `${field}.${key}`;
    fail(v !== undefined, at, 'is required');
    fail(typeof v === 'string', at, `must be a string, got ${shown(v)}`);
    fail(v !== '', at, 'must not be empty');
    if (choices) fail(choices.includes(v as T), at, `must be one of ${choices.join(', ')}, got ${shown(v)}${didYouMean(v as string, choices)}`);
    return v as T;
  };
  return {
    codes,
    checkField: fail,
    root: (v, field) => {
      fail(isMapping(v), field, `must be a mapping of settings, got ${shown(v)}`);
      return v as Obj;
    },
    mapping,
    onlyKeys,
    section: (o, key, field, known, optional = true) => {
      const m = mapping(o[key], field, optional);
      onlyKeys(m, known, field);
      return m;
    },
    numberAt,
    optionalNumberAt: (o, key, field, rule = {}) => (absent(o[key]) ? undefined : numberAt(o, key, field, undefined, rule)),
    stringAt,
    optionalStringAt: (o, key, field) => (absent(o[key]) ? undefined : stringAt(o, key, field)),
    booleanAt: (o, key, field, def) => {
      const v = o[key] ?? def;
      fail(typeof v === 'boolean', `${field}.${key}`, `must be true or false, got ${shown(v)}`);
      return v as boolean;
    },
    listAt: (o, key, field) => {
      const v = o[key];
      if (absent(v)) return [];
      fail(Array.isArray(v), `${field}.${key}`, `must be a list, got ${shown(v)}`);
      return v as unknown[];
    },
  };
}

/** run.yaml and site.yaml: a typo is E_CONFIG_INVALID, a wrong value E_INVALID_PARAMETER (docs/runs.md). */
export const CONFIG_FILE_FIELDS = configFields({ unknownKey: 'E_CONFIG_INVALID', invalid: 'E_INVALID_PARAMETER' });

/** Scenario files (simulations, PATE-MNIST, audit attacks): every mistake is E_SCENARIO_INVALID. */
export const SCENARIO_FIELDS = configFields({ unknownKey: 'E_SCENARIO_INVALID', invalid: 'E_SCENARIO_INVALID' });
