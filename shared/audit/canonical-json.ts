// Canonical JSON (RFC 8785 style): one byte string per value, so a hash over it is reproducible by any auditor.
import { UsageError } from '../util/errors.ts';

const MAX_DEPTH = 64;

/**
 * Encodes a JSON value canonically: object keys sorted by UTF-16 code units, no whitespace,
 * strings and numbers exactly as `JSON.stringify` writes them (ECMAScript shortest round-trip
 * numbers, -0 as 0), properties whose value is `undefined` omitted. Values JSON cannot hold
 * (NaN, ±Infinity, functions, typed arrays, class instances, undefined in arrays) are errors,
 * so two different values never share an encoding. Hashing uses the UTF-8 bytes of the result.
 */
export function canonicalJson(value: unknown, field = 'value'): string {
  return encode(value, field, 0);
}

function bad(field: string, why: string): never {
  throw new UsageError(`${field}: ${why}; audit data must be plain JSON`, 'E_AUDIT_NOT_JSON');
}

function encode(v: unknown, field: string, depth: number): string {
  if (depth > MAX_DEPTH) bad(field, `nests deeper than ${MAX_DEPTH}`);
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) bad(field, `${v} has no JSON form`);
      return JSON.stringify(v);
    case 'string':
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) {
        return '[' + v.map((x, i) => {
          if (x === undefined) bad(`${field}[${i}]`, 'is undefined');
          return encode(x, `${field}[${i}]`, depth + 1);
        }).join(',') + ']';
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) bad(field, `is a ${(v as object).constructor?.name ?? 'non-plain'} object`);
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + encode(o[k], `${field}.${k}`, depth + 1)).join(',') + '}';
    }
    default:
      return bad(field, `is a ${typeof v}`);
  }
}
