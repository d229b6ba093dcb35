// Typed readers for scenario YAML (simulations, audit attacks): each names the field it checks, fills the documented default, rejects unknown keys.
import { check } from './errors.ts';

export type Obj = Record<string, unknown>;

const CODE = 'E_SCENARIO_INVALID';

/** A mapping at `field` (an absent value reads as `{}` when `optional`). */
export function mapping(v: unknown, field: string, optional = false): Obj {
  if (v === undefined && optional) return {};
  check(v !== null && typeof v === 'object' && !Array.isArray(v), field, `must be a mapping, got ${JSON.stringify(v)}`, CODE);
  return v as Obj;
}

/** Fails on keys the scenario format does not know: a typo must not be silently ignored. */
export function onlyKeys(o: Obj, known: readonly string[], field: string): void {
  for (const k of Object.keys(o)) {
    check(known.includes(k), `${field}.${k}`, `is not a known setting (known: ${known.join(', ')})`, CODE);
  }
}

export interface NumberRule { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean }

/** A finite number (default when absent; required when the default is undefined). */
export function numberAt(o: Obj, key: string, field: string, def: number | undefined, rule: NumberRule = {}): number {
  const v = o[key] ?? def;
  const at = `${field}.${key}`;
  check(v !== undefined, at, 'is required', CODE);
  check(typeof v === 'number' && Number.isFinite(v), at, `must be a number, got ${JSON.stringify(v)}`, CODE);
  const n = v as number;
  if (rule.int) check(Number.isSafeInteger(n), at, `must be an integer, got ${n}`, CODE);
  if (rule.min !== undefined) check(rule.exclusiveMin ? n > rule.min : n >= rule.min, at, `must be ${rule.exclusiveMin ? '>' : '≥'} ${rule.min}, got ${n}`, CODE);
  if (rule.max !== undefined) check(n <= rule.max, at, `must be ≤ ${rule.max}, got ${n}`, CODE);
  return n;
}

/** An optional number: undefined when absent. */
export function optionalNumberAt(o: Obj, key: string, field: string, rule: NumberRule = {}): number | undefined {
  return o[key] === undefined ? undefined : numberAt(o, key, field, undefined, rule);
}

/** A non-empty string, optionally one of `choices`. */
export function stringAt<T extends string = string>(o: Obj, key: string, field: string, def?: T, choices?: readonly T[]): T {
  const v = o[key] ?? def;
  const at = `${field}.${key}`;
  check(v !== undefined, at, 'is required', CODE);
  check(typeof v === 'string' && v.length > 0, at, `must be a string, got ${JSON.stringify(v)}`, CODE);
  if (choices) check(choices.includes(v as T), at, `must be one of ${choices.join(', ')}, got "${v}"`, CODE);
  return v as T;
}

/** A boolean (default when absent). */
export function booleanAt(o: Obj, key: string, field: string, def: boolean): boolean {
  const v = o[key] ?? def;
  check(typeof v === 'boolean', `${field}.${key}`, `must be true or false, got ${JSON.stringify(v)}`, CODE);
  return v as boolean;
}

/** A list (empty when absent). */
export function listAt(o: Obj, key: string, field: string): unknown[] {
  const v = o[key];
  if (v === undefined) return [];
  check(Array.isArray(v), `${field}.${key}`, `must be a list, got ${JSON.stringify(v)}`, CODE);
  return v as unknown[];
}
