// msgpack codec for the wire: records off, typed arrays as binary extensions, maps decoded without prototype risk.
import { Packr } from 'msgpackr';
import { ChannelError } from './error-catalogue.ts';
import { FIELD_LIMITS } from './limits.ts';
import { scanMessageShape, type MessageShape } from './msgpack-shape.ts';

/**
 * Records are off (no shared structures become part of the wire contract); `moreTypes` writes
 * typed arrays as msgpack ext type 0x74 with their element type, so a Float32Array travels as its
 * bytes. Maps decode as `Map` so that no key is ever assigned onto a plain object by the decoder:
 * `toPlain` below builds objects itself and refuses __proto__, constructor and prototype keys.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: false, moreTypes: true, int64AsType: 'number' } as ConstructorParameters<typeof Packr>[0]);

/** Keys that could reach an object's prototype chain if a consumer ever merged the object. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Typed arrays the protocol carries. Others (BigInt64Array, Float64Array, DataView, ...) are refused. */
const ALLOWED_TYPED_ARRAYS = [Uint8Array, Uint16Array, Int32Array, Uint32Array, Float32Array] as const;

/** A decoded wire value: JSON-like, plus the protocol's typed arrays. */
export type WireValue =
  | null | boolean | number | string
  | Uint8Array | Uint16Array | Int32Array | Uint32Array | Float32Array
  | WireValue[] | { [key: string]: WireValue };

const MAX_DEPTH = FIELD_LIMITS.maxDecodedDepth;

/** Encodes a message object. Fields whose value is undefined are dropped by the caller (validators). */
export function encodeMessage(message: object): Uint8Array {
  return packr.pack(message);
}

/**
 * Decodes bytes into a plain value, or throws ChannelError E_MSG_DECODE / E_MSG_FORBIDDEN_KEY /
 * E_MSG_TOO_LARGE / E_MSG_TOO_COMPLEX. The bytes are scanned first (protocols/msgpack-shape.ts), so
 * a payload of millions of tiny items is refused in time linear in a bounded count, not decoded.
 * A caller that scanned already (to read `shape.type`) passes the shape of these same bytes.
 * Never returns Maps, Dates, Sets, RegExps, Errors, bigints or other extension objects.
 */
export function decodeMessage(bytes: Uint8Array, shape: MessageShape = scanMessageShape(bytes)): WireValue {
  if (shape.byteLength !== bytes.length) throw new Error('decodeMessage: the shape given was scanned from other bytes');
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (e) {
    throw new ChannelError('E_MSG_DECODE', `payload is not valid msgpack: ${(e as Error)?.message ?? String(e)}`.slice(0, 200));
  }
  return toPlain(raw, 0);
}

function isAllowedTypedArray(v: unknown): v is Uint8Array | Uint16Array | Int32Array | Uint32Array | Float32Array {
  return ALLOWED_TYPED_ARRAYS.some((T) => v instanceof T);
}

function toPlain(v: unknown, depth: number): WireValue {
  if (depth > MAX_DEPTH) throw new ChannelError('E_MSG_DECODE', `payload nests deeper than ${MAX_DEPTH} levels`);
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) {
    const out: WireValue[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = toPlain(v[i], depth + 1);
    return out;
  }
  if (v instanceof Map) {
    // also refused by the scan before decoding; kept so this function never trusts its input's source
    if (v.size > FIELD_LIMITS.maxDecodedMapEntries) throw new ChannelError('E_MSG_TOO_LARGE', `payload holds a map of ${v.size} entries; at most ${FIELD_LIMITS.maxDecodedMapEntries}`);
    const out: { [key: string]: WireValue } = {};
    for (const [k, val] of v) {
      if (typeof k !== 'string') throw new ChannelError('E_MSG_DECODE', `map key of type ${typeof k}; only string keys are allowed`);
      if (FORBIDDEN_KEYS.has(k)) throw new ChannelError('E_MSG_FORBIDDEN_KEY', `payload carries the forbidden key "${k}"`);
      if (val === undefined) continue;
      Object.defineProperty(out, k, { value: toPlain(val, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  if (isAllowedTypedArray(v)) {
    // msgpackr returns a Buffer for bin; expose it as a plain Uint8Array view
    if (Buffer.isBuffer(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return v;
  }
  const kind = v === undefined ? 'undefined' : typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
  throw new ChannelError('E_MSG_DECODE', `payload holds a value of type ${kind}, which the protocol does not carry`);
}
