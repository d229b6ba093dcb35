// Field-by-field checks for one decoded message: types, ranges, lengths, finite numbers, unknown keys.
import { ChannelError } from './error-catalogue.ts';
import { FIELD_LIMITS } from './limits.ts';
import type { WireValue } from './codec.ts';

export type WireObject = { [key: string]: WireValue };
type TypedArrayCtor = Uint8ArrayConstructor | Uint16ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor | Float32ArrayConstructor;

/** True for a plain decoded object (not an array, not a typed array, not null). */
export function isWireObject(v: unknown): v is WireObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/**
 * Reads the fields of one message or sub-object, remembering which keys were read, so that
 * `finish()` can refuse (or, for a newer minor version, drop) the keys nobody asked for.
 * Every failure is a ChannelError E_MSG_INVALID naming the field path.
 */
export class FieldReader {
  private readonly seen = new Set<string>();
  constructor(private readonly obj: WireObject, readonly where: string, private readonly tolerateUnknown: boolean) {}

  fail(field: string, why: string): never {
    throw new ChannelError('E_MSG_INVALID', `${this.where}.${field}: ${why}`);
  }

  private get(name: string): WireValue | undefined {
    this.seen.add(name);
    return Object.prototype.hasOwnProperty.call(this.obj, name) ? this.obj[name] : undefined;
  }

  /** The object's own keys (for maps whose keys are data, e.g. dataset ids). */
  keys(): string[] {
    return Object.keys(this.obj);
  }

  /** Marks fields as read that the caller checked itself (type and version). */
  markRead(...names: string[]): void {
    for (const n of names) this.seen.add(n);
  }

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.obj, name) && this.obj[name] !== null;
  }

  str(name: string, opts: { max?: number; pattern?: RegExp; optional?: boolean } = {}): string {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as string) : this.fail(name, 'is required (a string)');
    if (typeof v !== 'string') this.fail(name, `must be a string, got ${describe(v)}`);
    const max = opts.max ?? FIELD_LIMITS.maxIdLength;
    if (v.length > max) this.fail(name, `is ${v.length} characters; at most ${max}`);
    if (opts.pattern && !opts.pattern.test(v)) this.fail(name, `"${v.slice(0, 40)}" does not match ${opts.pattern}`);
    return v;
  }

  int(name: string, opts: { min?: number; max?: number; optional?: boolean } = {}): number {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as number) : this.fail(name, 'is required (an integer)');
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(name, `must be an integer, got ${describe(v)}`);
    if (opts.min !== undefined && v < opts.min) this.fail(name, `is ${v}; at least ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(name, `is ${v}; at most ${opts.max}`);
    return v;
  }

  num(name: string, opts: { min?: number; max?: number; optional?: boolean } = {}): number {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as number) : this.fail(name, 'is required (a number)');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(name, `must be a finite number, got ${describe(v)}`);
    if (opts.min !== undefined && v < opts.min) this.fail(name, `is ${v}; at least ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(name, `is ${v}; at most ${opts.max}`);
    return v;
  }

  oneOf<T extends string>(name: string, values: readonly T[], opts: { optional?: boolean } = {}): T {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as T) : this.fail(name, `is required (one of ${values.join(', ')})`);
    if (typeof v !== 'string' || !values.includes(v as T)) this.fail(name, `must be one of ${values.join(', ')}, got ${describe(v)}`);
    return v as T;
  }

  bytes(name: string, length: number): Uint8Array {
    const v = this.get(name);
    if (!(v instanceof Uint8Array) || v.constructor !== Uint8Array) this.fail(name, `must be ${length} bytes of binary, got ${describe(v)}`);
    if (v.length !== length) this.fail(name, `must be ${length} bytes, got ${v.length}`);
    return v;
  }

  /** A typed array of one of `ctors`, at most `maxLength` elements; Float32 elements must be finite. */
  typed<T extends TypedArrayCtor>(name: string, ctors: readonly T[], opts: { maxLength?: number; optional?: boolean } = {}): InstanceType<T> {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as InstanceType<T>) : this.fail(name, `is required (${ctors.map((c) => c.name).join(' or ')})`);
    const ctor = ctors.find((c) => v instanceof c && (c !== Uint8Array || v.constructor === Uint8Array || Buffer.isBuffer(v)));
    if (!ctor) this.fail(name, `must be a ${ctors.map((c) => c.name).join(' or ')}, got ${describe(v)}`);
    const arr = v as InstanceType<T>;
    const max = opts.maxLength ?? FIELD_LIMITS.maxIndices;
    if (arr.length > max) this.fail(name, `has ${arr.length} elements; at most ${max}`);
    if (arr instanceof Float32Array) {
      for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i]!)) this.fail(name, `element ${i} is ${arr[i]}; all must be finite`);
    }
    return arr;
  }

  strings(name: string, opts: { maxItems: number; maxLength?: number; optional?: boolean }): string[] {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as string[]) : this.fail(name, 'is required (a list of strings)');
    if (!Array.isArray(v)) this.fail(name, `must be a list of strings, got ${describe(v)}`);
    if (v.length > opts.maxItems) this.fail(name, `has ${v.length} items; at most ${opts.maxItems}`);
    const max = opts.maxLength ?? FIELD_LIMITS.maxIdLength;
    return v.map((s, i) => {
      if (typeof s !== 'string' || s.length > max) this.fail(`${name}[${i}]`, `must be a string of at most ${max} characters`);
      return s;
    });
  }

  /** A map of string keys to finite numbers (metrics, stats, numeric params). */
  numberMap(name: string, opts: { optional?: boolean } = {}): Record<string, number> {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as Record<string, number>) : this.fail(name, 'is required (a map of numbers)');
    if (!isWireObject(v)) this.fail(name, `must be a map of numbers, got ${describe(v)}`);
    const keys = Object.keys(v);
    if (keys.length > FIELD_LIMITS.maxMapKeys) this.fail(name, `has ${keys.length} keys; at most ${FIELD_LIMITS.maxMapKeys}`);
    const out: Record<string, number> = {};
    for (const k of keys) {
      const x = v[k];
      if (k.length > FIELD_LIMITS.maxIdLength) this.fail(`${name}`, `key "${k.slice(0, 40)}…" is too long`);
      if (typeof x !== 'number' || !Number.isFinite(x)) this.fail(`${name}.${k}`, `must be a finite number, got ${describe(x)}`);
      out[k] = x;
    }
    return out;
  }

  /** A free-form JSON object (privacy events, run config): bounded depth and keys, finite numbers only. */
  json(name: string, opts: { optional?: boolean } = {}): Record<string, unknown> {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as Record<string, unknown>) : this.fail(name, 'is required (an object)');
    if (!isWireObject(v)) this.fail(name, `must be an object, got ${describe(v)}`);
    checkJson(v, `${this.where}.${name}`, 0);
    return v as Record<string, unknown>;
  }

  /** A nested object read with its own reader; `read` returns the validated copy. */
  object<T>(name: string, read: (r: FieldReader) => T, opts: { optional?: boolean } = {}): T {
    const v = this.get(name);
    if (v === undefined || v === null) return opts.optional ? (undefined as unknown as T) : this.fail(name, 'is required (an object)');
    if (!isWireObject(v)) this.fail(name, `must be an object, got ${describe(v)}`);
    const sub = new FieldReader(v, `${this.where}.${name}`, this.tolerateUnknown);
    const out = read(sub);
    sub.finish();
    return out;
  }

  /** Refuses keys nobody read, unless the sender's minor version is newer than ours. */
  finish(): void {
    if (this.tolerateUnknown) return;
    for (const k of Object.keys(this.obj)) {
      if (!this.seen.has(k)) throw new ChannelError('E_MSG_INVALID', `${this.where}: unknown field "${k.slice(0, 40)}" (not in protocol v1.0)`);
    }
  }
}

function checkJson(v: WireValue, where: string, depth: number): void {
  if (depth > FIELD_LIMITS.maxJsonDepth) throw new ChannelError('E_MSG_INVALID', `${where}: nests deeper than ${FIELD_LIMITS.maxJsonDepth}`);
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ChannelError('E_MSG_INVALID', `${where}: numbers must be finite`);
    return;
  }
  if (Array.isArray(v)) {
    if (v.length > FIELD_LIMITS.maxIndices) throw new ChannelError('E_MSG_INVALID', `${where}: list too long`);
    for (let i = 0; i < v.length; i++) checkJson(v[i]!, `${where}[${i}]`, depth + 1);
    return;
  }
  if (ArrayBuffer.isView(v)) throw new ChannelError('E_MSG_INVALID', `${where}: binary is not allowed in a JSON field`);
  const keys = Object.keys(v);
  if (keys.length > FIELD_LIMITS.maxMapKeys) throw new ChannelError('E_MSG_INVALID', `${where}: ${keys.length} keys; at most ${FIELD_LIMITS.maxMapKeys}`);
  for (const k of keys) checkJson(v[k]!, `${where}.${k}`, depth + 1);
}

/** A short description of a value's type for error messages (never the value itself, which may be huge). */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return `a ${typeof v}`;
}
