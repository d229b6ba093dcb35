// The pre-decode shape scan: hostile raw bytes get their codes, and everything the codec writes is accepted and counted right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr, encode as rawPack } from 'msgpackr';
import { ChannelError } from '../../../protocols/error-catalogue.ts';
import { decodeMessage, encodeMessage } from '../../../protocols/codec.ts';
import { FIELD_LIMITS } from '../../../protocols/limits.ts';
import { DEFAULT_SHAPE_LIMITS, scanMessageShape, type MessageShape } from '../../../protocols/msgpack-shape.ts';
import { validateHandshakeMessage, validateSessionMessage } from '../../../protocols/validators.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import { randomMessages } from './random-messages.ts';

const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
/** `{type: "metrics", junk: <array32 of count items, each `item`>}` as raw bytes. */
function junk(count: number, item: number[], tail: number[] = []): Uint8Array {
  const head = [0x82, 0xa4, ...Buffer.from('type'), 0xa7, ...Buffer.from('metrics'), 0xa4, ...Buffer.from('junk'), 0xdd, ...u32(count)];
  const out = new Uint8Array(head.length + item.length * count + tail.length);
  out.set(head, 0);
  for (let i = 0; i < count; i++) out.set(item, head.length + i * item.length);
  out.set(tail, head.length + item.length * count);
  return out;
}
const code = (bytes: Uint8Array): string => {
  try {
    scanMessageShape(bytes);
    return 'accepted';
  } catch (e) {
    assert.ok(e instanceof ChannelError, `not a catalogue error: ${(e as Error)?.stack}`);
    return e.code;
  }
};
/** The codec with the scan bypassed: what msgpackr plus the plain-object copy accept on their own. */
const decodeUnscanned = (bytes: Uint8Array): unknown => decodeMessage(bytes, { byteLength: bytes.length } as MessageShape);

test('many tiny maps, arrays, scalars or binaries are refused with E_MSG_TOO_COMPLEX (4006) before decoding', () => {
  assert.equal(code(junk(FIELD_LIMITS.maxDecodedContainers, [0x80])), 'E_MSG_TOO_COMPLEX');
  assert.equal(code(junk(FIELD_LIMITS.maxDecodedContainers - 8, [0x90])), 'accepted');
  assert.equal(code(junk(FIELD_LIMITS.maxDecodedItems, [0x01])), 'E_MSG_TOO_COMPLEX');
  assert.equal(code(junk(FIELD_LIMITS.maxDecodedItems - 8, [0xc0])), 'accepted');
  assert.equal(code(junk(FIELD_LIMITS.maxDecodedBinaries + 1, [0xc4, 0x00])), 'E_MSG_TOO_COMPLEX');
  assert.equal(code(junk(FIELD_LIMITS.maxDecodedBinaries + 1, [0xc7, 0x01, 0x74, 0x07])), 'E_MSG_TOO_COMPLEX');
  assert.equal(code(junk(FIELD_LIMITS.maxDecodedBinaries - 1, [0xc7, 0x01, 0x74, 0x07])), 'accepted');
  // five maps of 1,000 distinct keys: each within maxDecodedMapEntries, together over the total
  const wide = [0xde, ...[1000 >> 8, 1000 & 255]];
  for (let i = 0; i < 1000; i++) wide.push(0xa5, ...Buffer.from(`k${String(i).padStart(4, '0')}`), 0x00);
  assert.equal(code(junk(5, wide)), 'E_MSG_TOO_COMPLEX');
  assert.equal(code(junk(2, wide)), 'accepted');
  const e = (() => { try { scanMessageShape(junk(10_000, [0x80])); } catch (err) { return err as ChannelError; } })();
  assert.equal(e?.closeCode, 4006);
  assert.match(e!.message, /maps and arrays/);
});

test('the scan stops at its budget: bytes past the budget are never looked at', () => {
  // the budget is exceeded before the garbage (0xc1) and the missing bytes are reached
  assert.equal(code(junk(FIELD_LIMITS.maxDecodedContainers + 1, [0x80], [0xc1, 0xc1])), 'E_MSG_TOO_COMPLEX');
  // a declared count the budget cannot hold is refused from its header alone
  const huge = Uint8Array.from([0x81, 0xa4, ...Buffer.from('junk'), 0xdd, 0xff, 0xff, 0xff, 0xff]);
  assert.equal(code(huge), 'E_MSG_TOO_COMPLEX');
  const map32 = Uint8Array.from([0xdf, 0x00, 0x10, 0x00, 0x00]);
  assert.equal(code(map32), 'E_MSG_TOO_LARGE');
});

test('malformed msgpack is E_MSG_DECODE: truncation, trailing bytes, 0xc1, non-string keys, counts the bytes cannot hold', () => {
  const ok = encodeMessage({ type: 'heartbeat', v: PROTOCOL_VERSION, kind: 'ping', seq: 1 });
  assert.equal(code(ok), 'accepted');
  for (let cut = 0; cut < ok.length; cut++) assert.equal(code(ok.subarray(0, cut)), 'E_MSG_DECODE', `cut at ${cut}`);
  assert.equal(code(Uint8Array.from([...ok, 0x00])), 'E_MSG_DECODE');
  assert.equal(code(Uint8Array.from([0x91, 0xc1])), 'E_MSG_DECODE');
  assert.equal(code(Uint8Array.from([0x81, 0x01, 0x02])), 'E_MSG_DECODE');
  assert.equal(code(Uint8Array.from([0x81, 0x80, 0x02])), 'E_MSG_DECODE');
  assert.equal(code(Uint8Array.from([0xdc, 0x01, 0x00, 0x01])), 'E_MSG_DECODE');
  assert.equal(code(Uint8Array.from([0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00])), 'E_MSG_DECODE');
  assert.equal(code(new Uint8Array(0)), 'E_MSG_DECODE');
});

test('nesting: 32 levels are accepted as by the codec, 33 are refused (E_MSG_DECODE) without recursion', () => {
  const nested = (levels: number): Uint8Array => Uint8Array.from([...new Array(levels).fill(0x91), 0xc0]);
  assert.equal(code(nested(32)), 'accepted');
  assert.doesNotThrow(() => decodeUnscanned(nested(32)));
  assert.equal(code(nested(33)), 'E_MSG_DECODE');
  assert.throws(() => decodeUnscanned(nested(33)), { code: 'E_MSG_DECODE' });
  assert.equal(code(nested(5_000_000)), 'E_MSG_DECODE');
  assert.equal(scanMessageShape(nested(32)).depth, 32);
  // empty containers at the deepest level open nothing, as in the codec
  assert.equal(code(Uint8Array.from([...new Array(32).fill(0x91), 0x90])), 'accepted');
});

test('extensions other than typed arrays (0x74) and undefined (0) are refused: bigint, Set, Date, Error, records, bundled strings', () => {
  const packr = new Packr({ moreTypes: true, useRecords: false } as ConstructorParameters<typeof Packr>[0]);
  for (const v of [2n ** 200n, new Set([1, 2]), new Date(0), new Error('x'), /re/, new Float64Array(2), new Int8Array(3), new BigInt64Array(1)]) {
    assert.equal(code(packr.pack({ x: v })), 'E_MSG_DECODE', String(v));
  }
  assert.equal(code(new Packr({ useRecords: true } as ConstructorParameters<typeof Packr>[0]).pack([{ a: 1 }, { a: 2 }])), 'E_MSG_DECODE');
  assert.equal(code(new Packr({ bundleStrings: true } as ConstructorParameters<typeof Packr>[0]).pack({ a: 'x'.repeat(100) })), 'E_MSG_DECODE');
  assert.equal(code(Uint8Array.from([0xc9, 0x00, 0x00, 0x10, 0x00, 0x42, ...new Array(4096).fill(0x5a)])), 'E_MSG_DECODE');
  assert.equal(code(Uint8Array.from([0x81, 0xa1, 0x61, 0xd4, 0x00, 0x00])), 'accepted'); // {a: undefined}
  assert.equal(code(Uint8Array.from([0xd4, 0x74, 0x01])), 'accepted'); // empty Uint8Array
  assert.equal(code(Uint8Array.from([0xd4, 0x74, 0x08])), 'E_MSG_DECODE'); // empty Float64Array
  // fixext 2/4/8/16 carrying Uint8Arrays, as other msgpack encoders may write them: parsed at the right length
  for (const [token, length] of [[0xd5, 2], [0xd6, 4], [0xd7, 8], [0xd8, 16]] as const) {
    const bytes = Uint8Array.from([0x92, token, 0x74, 0x01, ...new Array(length - 1).fill(9), 0x05]);
    assert.equal(code(bytes), 'accepted', `fixext ${length}`);
    assert.deepEqual(decodeUnscanned(bytes), [new Uint8Array(length - 1).fill(9), 5]);
  }
});

test('the top-level type is read from the bytes, whatever string encoding and wherever the key is; the last one wins', () => {
  assert.equal(scanMessageShape(encodeMessage({ type: 'query_reply', v: [1, 0] })).type, 'query_reply');
  assert.equal(scanMessageShape(rawPack(new Map<unknown, unknown>([['v', [1, 0]], ['x', { type: 'inner' }], ['type', 'metrics']]))).type, 'metrics');
  // "type" written as str8 and the value as str16, as another encoder might
  const long = Uint8Array.from([0x81, 0xd9, 0x04, ...Buffer.from('type'), 0xda, 0x00, 0x07, ...Buffer.from('welcome')]);
  assert.equal(scanMessageShape(long).type, 'welcome');
  const twice = Uint8Array.from([0x82, 0xa4, ...Buffer.from('type'), 0xa7, ...Buffer.from('metrics'), 0xa4, ...Buffer.from('type'), 0x07]);
  assert.equal(scanMessageShape(twice).type, undefined);
  assert.equal(scanMessageShape(rawPack([{ type: 'metrics' }])).type, undefined);
  assert.equal(scanMessageShape(rawPack({ type: 'x'.repeat(65) })).type, undefined);
});

test('property: every message the protocol can send, of every type, is accepted and counted exactly', () => {
  const rng = new SeededRng(7_031);
  let n = 0;
  for (const { message, handshake } of randomMessages(rng, 40)) {
    const full = handshake ? validateHandshakeMessage(message as never) : validateSessionMessage(message as never);
    const bytes = encodeMessage(full);
    const shape = scanMessageShape(bytes);
    assert.equal(shape.type, full.type);
    assert.deepEqual(countsOf(full), { items: shape.items, containers: shape.containers, mapEntries: shape.mapEntries, binaries: shape.binaries });
    assert.deepEqual(decodeMessage(bytes, shape), decodeUnscanned(bytes));
    n++;
  }
  assert.ok(n >= 40 * 14, `only ${n} messages`);
});

test('property: random values at every msgpack size boundary are parsed with exact counts (budgets lifted)', () => {
  const rng = new SeededRng(99);
  const unbounded = { ...DEFAULT_SHAPE_LIMITS, maxItems: 1e9, maxContainers: 1e9, maxMapEntriesTotal: 1e9, maxBinaries: 1e9, maxStringBytes: 1e9 };
  for (let i = 0; i < 200; i++) {
    const value = { type: 'metrics', value: randomValue(rng, 0, { left: 200 }) };
    const bytes = encodeMessage(value);
    const shape = scanMessageShape(bytes, unbounded);
    assert.deepEqual({ items: shape.items, containers: shape.containers, mapEntries: shape.mapEntries, binaries: shape.binaries }, countsOf(value));
    assert.doesNotThrow(() => decodeMessage(bytes, shape));
  }
});

test('fuzz: on 10,000 mutated frames the scan never refuses what the unscanned codec accepts, and only throws catalogue errors', () => {
  const rng = new SeededRng(4_242);
  const seeds = randomMessages(new SeededRng(5), 3).map(({ message }) => encodeMessage(message));
  let bothAccept = 0;
  for (let i = 0; i < 10_000; i++) {
    let bytes = Uint8Array.from(seeds[i % seeds.length]!);
    const flips = 1 + rng.int(3);
    for (let f = 0; f < flips; f++) bytes[rng.int(bytes.length)] = rng.int(256);
    if (rng.int(8) === 0) bytes = bytes.subarray(0, rng.int(bytes.length));
    const scanned = code(bytes);
    let unscanned = 'accepted';
    try {
      decodeUnscanned(bytes);
    } catch (e) {
      unscanned = e instanceof ChannelError ? e.code : 'THREW';
    }
    if (unscanned === 'accepted') {
      assert.equal(scanned, 'accepted', `scan refused bytes the codec accepts: ${Buffer.from(bytes).toString('hex').slice(0, 120)}`);
      bothAccept++;
    }
  }
  assert.ok(bothAccept > 500, `only ${bothAccept} mutated frames decoded; the fuzz is not exercising acceptance`);
});

// ---- helpers ----

/** Counts what msgpackr writes for a value: every value (and key) is an item; typed arrays and Buffers are binaries. */
function countsOf(v: unknown): { items: number; containers: number; mapEntries: number; binaries: number } {
  const c = { items: 0, containers: 0, mapEntries: 0, binaries: 0 };
  const walk = (x: unknown): void => {
    c.items++;
    if (ArrayBuffer.isView(x)) c.binaries++;
    else if (Array.isArray(x)) { c.containers++; x.forEach(walk); }
    else if (x !== null && typeof x === 'object') {
      const keys = Object.keys(x);
      c.containers++;
      c.mapEntries += keys.length;
      for (const k of keys) { c.items++; walk((x as Record<string, unknown>)[k]); }
    }
  };
  walk(v);
  return c;
}

const STRING_LENGTHS = [0, 1, 31, 32, 255, 256, 65_535, 65_536];
const INTS = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1, -Number.MAX_SAFE_INTEGER];
const TYPED = [Uint8Array, Uint16Array, Int32Array, Uint32Array, Float32Array] as const;

/** A random wire value: every scalar width, string/bin/ext/array/map length class, nesting up to 31 levels; `budget` bounds its size. */
function randomValue(rng: SeededRng, depth: number, budget: { left: number }): unknown {
  const pick = rng.int(depth >= 30 || --budget.left <= 0 ? 6 : 9);
  switch (pick) {
    case 0: return INTS[rng.int(INTS.length)];
    case 1: return rng.next() * 1e6 - 5e5;
    case 2: return [null, true, false][rng.int(3)];
    case 3: {
      const n = STRING_LENGTHS[rng.int(rng.int(10) === 0 ? STRING_LENGTHS.length : 6)]!;
      return 'abcdé😀fgh'.repeat(Math.ceil(n / 10)).slice(0, n);
    }
    case 4: {
      const T = TYPED[rng.int(TYPED.length)]!;
      const n = rng.int(8) === 0 ? [64, 70_000][rng.int(2)]! : rng.int(21);
      return new T(n).map((_, i) => i % 200);
    }
    case 5: return Buffer.alloc([0, 1, 255, 256, 65_536][rng.int(rng.int(6) === 0 ? 5 : 4)]!, 7);
    case 6: case 7: {
      const n = [0, 1, 15, 16, 40][rng.int(5)]!;
      return Array.from({ length: n }, () => randomValue(rng, depth + 1 + rng.int(3), budget));
    }
    default: {
      const n = [0, 1, 15, 16, 20][rng.int(5)]!;
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) out[`k${i}_${rng.int(1000)}`] = randomValue(rng, depth + 1 + rng.int(3), budget);
      return out;
    }
  }
}
