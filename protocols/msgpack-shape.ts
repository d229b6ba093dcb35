// A linear, allocation-free walk over msgpack bytes that bounds what decoding them would build, before msgpackr runs.
import { ChannelError } from './error-catalogue.ts';
import { FIELD_LIMITS } from './limits.ts';

/** Bounds on the shape of one message; defaults in FIELD_LIMITS (protocols/limits.ts). */
export interface ShapeLimits {
  maxItems: number;
  maxContainers: number;
  maxMapEntries: number;
  maxMapEntriesTotal: number;
  maxBinaries: number;
  maxDepth: number;
  /** Bytes of string data (keys included), summed over the message. */
  maxStringBytes: number;
}

export const DEFAULT_SHAPE_LIMITS: Readonly<ShapeLimits> = Object.freeze({
  maxItems: FIELD_LIMITS.maxDecodedItems,
  maxContainers: FIELD_LIMITS.maxDecodedContainers,
  maxMapEntries: FIELD_LIMITS.maxDecodedMapEntries,
  maxMapEntriesTotal: FIELD_LIMITS.maxDecodedMapEntriesTotal,
  maxBinaries: FIELD_LIMITS.maxDecodedBinaries,
  maxDepth: FIELD_LIMITS.maxDecodedDepth,
  maxStringBytes: FIELD_LIMITS.maxDecodedStringBytes,
});

/** What a scan found: counts for logs and tests, and the top-level `type` when it is a string. */
export interface MessageShape {
  readonly byteLength: number;
  readonly items: number;
  readonly containers: number;
  readonly mapEntries: number;
  readonly binaries: number;
  readonly depth: number;
  readonly stringBytes: number;
  readonly type: string | undefined;
}

/** msgpack ext type of typed arrays (msgpackr `moreTypes`), and ext 0, which msgpackr writes for `undefined`. */
const EXT_TYPED_ARRAY = 0x74;
const EXT_UNDEFINED = 0x00;
/** Element-type bytes of the typed arrays the protocol carries: Uint8, Uint16, Int32, Uint32, Float32. */
const TYPED_ARRAY_CODES: ReadonlySet<number> = new Set([1, 4, 5, 6, 7]);
const TYPE_KEY = [0x74, 0x79, 0x70, 0x65]; // "type"
const MAX_TYPE_BYTES = 64;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Header length of a msgpack string token (fixstr, str8/16/32), or −1 for any other token. */
function stringHeaderBytes(token: number): number {
  if (token >= 0xa0 && token <= 0xbf) return 1;
  return token === 0xd9 ? 2 : token === 0xda ? 3 : token === 0xdb ? 5 : -1;
}

const decodeError = (why: string): ChannelError => new ChannelError('E_MSG_DECODE', `payload is not valid msgpack: ${why}`);
const tooComplex = (what: string, n: number, max: number): ChannelError =>
  new ChannelError('E_MSG_TOO_COMPLEX', `payload holds ${n} ${what}; no protocol message needs more than ${max}`);

/**
 * Walks msgpack bytes once, without building anything, and throws before decoding would be costly:
 * E_MSG_TOO_COMPLEX past the item, container, map-entry, binary or string-byte budgets; E_MSG_TOO_LARGE for a map
 * over maxMapEntries; E_MSG_DECODE for nesting deeper than maxDepth, truncation, trailing bytes,
 * non-string map keys, the never-used byte 0xc1, and any extension other than typed arrays (0x74)
 * and undefined (0). Extension payloads (bigints, Sets, records, bundled strings) are refused
 * because msgpackr would decode their contents out of sight of this count.
 * Work is linear in the number of items, at most maxItems; a typed array or string is skipped by length.
 * `onType` is called as soon as the top-level `type` has been read (each time, if the key repeats),
 * so that an oversized message is refused without walking the rest.
 * String bytes are budgeted (maxStringBytes) because msgpackr decodes each of them, ~5x slower per
 * byte than it copies a typed array: 16 MiB of 124-byte strings took ~200 ms, the 16 MiB reply ~30 ms.
 */
export function scanMessageShape(bytes: Uint8Array, limits: ShapeLimits = DEFAULT_SHAPE_LIMITS, onType?: (type: string | undefined) => void): MessageShape {
  const end = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // remaining[L]: values still to read at nesting level L; level 0 is the single top-level value
  const remaining = new Float64Array(limits.maxDepth + 2);
  const isMap = new Uint8Array(limits.maxDepth + 2);
  remaining[0] = 1;
  let level = 0;
  let deepest = 0;
  let pos = 0;
  let items = 0;
  let containers = 0;
  let mapEntries = 0;
  let binaries = 0;
  let stringBytes = 0;
  let type: string | undefined;
  let nextIsType = false;

  const need = (n: number): void => {
    if (n > end - pos) throw decodeError(`truncated: ${n} more bytes needed at offset ${pos}, ${end - pos} left`);
  };
  const u8 = (): number => { need(1); return bytes[pos++]!; };
  const u16 = (): number => { need(2); const v = view.getUint16(pos); pos += 2; return v; };
  const u32 = (): number => { need(4); const v = view.getUint32(pos); pos += 4; return v; };
  const skip = (n: number): void => { need(n); pos += n; };
  /** String data of `n` bytes: counted before it is skipped, so a refused message is not read further. */
  const text = (n: number): void => {
    stringBytes += n;
    if (stringBytes > limits.maxStringBytes) throw tooComplex('bytes of strings', stringBytes, limits.maxStringBytes);
    skip(n);
  };

  /** An extension of `length` data bytes: typed arrays count as binaries; only ext 0 and 0x74 are allowed. */
  const extension = (length: number): void => {
    const extType = u8();
    if (extType === EXT_UNDEFINED) return skip(length);
    if (extType !== EXT_TYPED_ARRAY) throw decodeError(`extension type 0x${extType.toString(16)} is not part of the protocol`);
    need(length);
    if (length < 1 || !TYPED_ARRAY_CODES.has(bytes[pos]!)) throw decodeError(`typed array of element code ${length < 1 ? 'none' : bytes[pos]} is not part of the protocol`);
    pos += length;
    binaries++;
  };

  for (;;) {
    while (level >= 0 && remaining[level] === 0) level--;
    if (level < 0) break;
    const inMap = isMap[level] === 1;
    const atKey = inMap && remaining[level]! % 2 === 0;
    remaining[level]!--;
    if (++items > limits.maxItems) throw tooComplex('msgpack values', items, limits.maxItems);
    const start = pos;
    const token = u8();
    if (atKey && stringHeaderBytes(token) < 0) {
      throw new ChannelError('E_MSG_DECODE', `map key of msgpack type 0x${token.toString(16)}; only string keys are allowed`);
    }
    let children = -1; // ≥ 0 when this value opens a container
    let map = false;
    if (token <= 0x7f || token >= 0xe0) { /* fixint */ }
    else if (token <= 0x8f) { children = token & 0x0f; map = true; }
    else if (token <= 0x9f) children = token & 0x0f;
    else if (token <= 0xbf) text(token & 0x1f);
    else {
      switch (token) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xc1: throw decodeError('byte 0xc1 is never used');
        case 0xc4: skip(u8()); binaries++; break;
        case 0xc5: skip(u16()); binaries++; break;
        case 0xc6: skip(u32()); binaries++; break;
        case 0xc7: extension(u8()); break;
        case 0xc8: extension(u16()); break;
        case 0xc9: extension(u32()); break;
        case 0xca: skip(4); break;
        case 0xcb: skip(8); break;
        case 0xcc: skip(1); break;
        case 0xcd: skip(2); break;
        case 0xce: skip(4); break;
        case 0xcf: skip(8); break;
        case 0xd0: skip(1); break;
        case 0xd1: skip(2); break;
        case 0xd2: skip(4); break;
        case 0xd3: skip(8); break;
        case 0xd4: extension(1); break;
        case 0xd5: extension(2); break;
        case 0xd6: extension(4); break;
        case 0xd7: extension(8); break;
        case 0xd8: extension(16); break;
        case 0xd9: text(u8()); break;
        case 0xda: text(u16()); break;
        case 0xdb: text(u32()); break;
        case 0xdc: children = u16(); break;
        case 0xdd: children = u32(); break;
        case 0xde: children = u16(); map = true; break;
        case 0xdf: children = u32(); map = true; break;
      }
    }
    if (binaries > limits.maxBinaries) throw tooComplex('binary values and typed arrays', binaries, limits.maxBinaries);
    // the top-level map's "type" entry: read it here so the caller can apply its size limit before decoding
    if (level === 1 && inMap) {
      const header = stringHeaderBytes(token);
      if (atKey) nextIsType = pos - start - header === TYPE_KEY.length && TYPE_KEY.every((b, i) => bytes[start + header + i] === b);
      else if (nextIsType) {
        type = header > 0 && pos - start - header <= MAX_TYPE_BYTES ? utf8.decode(bytes.subarray(start + header, pos)) : undefined;
        nextIsType = false;
        // the caller's size check for this type, before the rest of the message is walked
        onType?.(type);
      }
    }
    if (children < 0) continue;
    if (++containers > limits.maxContainers) throw tooComplex('maps and arrays', containers, limits.maxContainers);
    if (map) {
      if (children > limits.maxMapEntries) throw new ChannelError('E_MSG_TOO_LARGE', `payload holds a map of ${children} entries; at most ${limits.maxMapEntries}`);
      mapEntries += children;
      if (mapEntries > limits.maxMapEntriesTotal) throw tooComplex('map entries in all', mapEntries, limits.maxMapEntriesTotal);
      children *= 2;
    }
    if (children === 0) continue;
    // every value takes at least one byte: refuse declared counts the bytes cannot hold before counting them
    if (items + children > limits.maxItems) throw tooComplex('msgpack values', items + children, limits.maxItems);
    if (children > end - pos) throw decodeError(`a container declares ${map ? children / 2 : children} entries but only ${end - pos} bytes follow`);
    if (level + 1 > limits.maxDepth) throw new ChannelError('E_MSG_DECODE', `payload nests deeper than ${limits.maxDepth} levels`);
    level++;
    if (level > deepest) deepest = level;
    remaining[level] = children;
    isMap[level] = map ? 1 : 0;
  }
  if (pos !== end) throw decodeError(`${end - pos} bytes after the end of the message`);
  return { byteLength: end, items, containers, mapEntries, binaries, depth: deepest, stringBytes, type };
}
