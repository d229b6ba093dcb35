// Decode cost of legitimate versus hostile session messages through the session's real inbound path.
// Run: nice -n 10 node --expose-gc --import tsx bench/hostile-decode.ts [--quick]   (one JSON object on stdout)
import { encodeMessage } from '../protocols/codec.ts';
import { DEFAULT_CONNECTION_LIMITS, messageSizeLimit } from '../protocols/limits.ts';
import { validateSessionMessage } from '../protocols/validators.ts';
import { readSessionPayload } from '../protocols/inbound.ts';
import { PROTOCOL_VERSION } from '../protocols/version.ts';
import { SeededRng } from '../shared/util/prng.ts';
import { benchArgs } from './bench-args.ts';

const { values: args } = benchArgs({
  name: 'hostile-decode',
  nodeFlags: '--expose-gc',
  summary: `Decode cost of legitimate versus hostile session messages through the session's real inbound path
(docs/channel.md; run it under nice -n 10). Progress on stderr, one JSON object on stdout.`,
  options: { quick: { kind: 'boolean', help: 'skip hostile targets over 2 MiB' } },
});

const MiB = 1024 * 1024;
const SEED = 20240611;
const quick = args.quick;
const log = (s: string): void => void process.stderr.write(`[bench/hostile-decode] ${s}\n`);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const limits = DEFAULT_CONNECTION_LIMITS;

/** What the session does with a decrypted frame (decode, validate, size check), minus the crypto. */
function inbound(bytes: Uint8Array): string {
  try {
    return readSessionPayload(bytes, limits).type;
  } catch (e) {
    return (e as { code?: string }).code ?? 'THREW';
  }
}

/** Median wall time of `reps` runs of inbound(bytes), and its outcome (message type or error code). */
function time(bytes: Uint8Array, reps: number): { ms: number; outcome: string } {
  const runs: number[] = [];
  let outcome = '';
  for (let i = 0; i < reps; i++) {
    gc();
    const t0 = process.hrtime.bigint();
    outcome = inbound(bytes);
    runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  runs.sort((a, b) => a - b);
  return { ms: runs[Math.floor(runs.length / 2)]!, outcome };
}

// ---- a minimal msgpack writer, so hostile payloads hit an exact byte size ----

function str(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  if (b.length < 32) return [0xa0 | b.length, ...b];
  return [0xd9, b.length, ...b];
}
const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

/** Envelope `{type, v: [1, 0], requestId, junk: <array32 of count items>}`, the items written by `fill`. */
function envelope(type: string, count: number, itemBytes: Uint8Array): Uint8Array {
  const head = [0x84, ...str('type'), ...str(type), ...str('v'), 0x92, PROTOCOL_VERSION[0], PROTOCOL_VERSION[1],
    ...str('requestId'), ...str('r1'), ...str('junk'), 0xdd, ...u32(count)];
  const out = new Uint8Array(head.length + itemBytes.length);
  out.set(head, 0);
  out.set(itemBytes, head.length);
  return out;
}

/** `count` copies of one encoded item, back to back. */
function repeat(item: number[], count: number): Uint8Array {
  const out = new Uint8Array(item.length * count);
  for (let i = 0; i < count; i++) out.set(item, i * item.length);
  return out;
}

/** Map of 1,024 distinct keys `kNNNN` → 0: the widest map the codec lets through. */
const WIDE_MAP: number[] = (() => {
  const b: number[] = [0xde, 0x04, 0x00];
  for (let i = 0; i < 1024; i++) b.push(...str(`k${String(i).padStart(4, '0')}`), 0x00);
  return b;
})();

type HostileKind = { name: string; build: (type: string, bytes: number) => Uint8Array };

/** Array-of-tiny-items payloads: each item's bytes repeated to fill the budget. */
function arrayOf(name: string, item: number[]): HostileKind {
  return { name, build: (type, bytes) => { const n = Math.max(1, Math.floor((bytes - 40) / item.length)); return envelope(type, n, repeat(item, n)); } };
}

const HOSTILE: HostileKind[] = [
  arrayOf('tiny_maps', [0x80]),
  arrayOf('tiny_arrays', [0x90]),
  arrayOf('tiny_strings', [0xa1, 0x61]),
  arrayOf('small_ints', [0x01]),
  arrayOf('nils', [0xc0]),
  arrayOf('floats', [0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]),
  arrayOf('tiny_maps_1key', [0x81, 0xa1, 0x61, 0x00]),
  arrayOf('empty_bins', [0xc4, 0x00]),
  arrayOf('tiny_typed_arrays', [0xc7, 0x01, 0x74, 0x01]),
  arrayOf('wide_maps_1024', WIDE_MAP),
  // medium strings: few values, many string bytes (msgpackr decodes each byte; bounded by maxDecodedStringBytes)
  arrayOf('medium_strings_ascii', [0xd9, 124, ...new Array(124).fill(0x61)]),
  arrayOf('medium_strings_emoji', [0xd9, 124, ...Array.from({ length: 31 }, () => [0xf0, 0x9f, 0x98, 0x80]).flat()]),
  {
    name: 'one_huge_map',
    build: (type, bytes) => {
      const n = Math.max(1, Math.floor((bytes - 40) / 7));
      const body = new Uint8Array(n * 7);
      for (let i = 0; i < n; i++) body.set([0xa5, 0x6b, 48 + ((i / 1000) % 10 | 0), 48 + ((i / 100) % 10 | 0), 48 + ((i / 10) % 10 | 0), 48 + (i % 10), 0x00], i * 7);
      const head = [0x82, ...str('type'), ...str(type), ...str('junk'), 0xdf, ...u32(n)];
      const out = new Uint8Array(head.length + body.length);
      out.set(head, 0);
      out.set(body, head.length);
      return out;
    },
  },
  {
    name: 'deep_nesting',
    build: (type, bytes) => { const n = Math.max(1, bytes - 40); const b = repeat([0x91], n); b[n - 1] = 0xc0; return envelope(type, 1, b); },
  },
  {
    name: 'bigint_ext',
    build: (type, bytes) => {
      const n = Math.max(8, bytes - 48);
      const body = new Uint8Array(6 + n);
      body.set([0xc9, ...u32(n), 0x42], 0);
      body.fill(0x5a, 6);
      return envelope(type, 1, body);
    },
  },
  {
    name: 'one_long_string',
    build: (type, bytes) => { const n = Math.max(1, bytes - 48); const body = new Uint8Array(5 + n); body.set([0xdb, ...u32(n)], 0); body.fill(0x61, 5); return envelope(type, 1, body); },
  },
];

// ---- legitimate messages, built and checked by the protocol's own validator ----

function legitimate(): { name: string; bytes: Uint8Array }[] {
  const rng = new SeededRng(SEED);
  const soft = (rows: number, cols: number): Float32Array => {
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < out.length; i++) out[i] = rng.next();
    return out;
  };
  const indices = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);
  const reply = (rows: number, cols: number, privacyEvent: Record<string, unknown>) => encodeMessage(validateSessionMessage({
    type: 'query_reply', v: PROTOCOL_VERSION, requestId: 'q-1', round: 3, replyKind: 'soft_labels', rows, cols, soft: soft(rows, cols),
    privacyEvent, stats: { teachers: 1, seconds: 1.25 },
  } as never));
  const event = { type: 'gaussian', noise_multiplier: 1.1, count: 10_000 };
  const maxRows = Math.floor((limits.maxFrameBytes - 512) / 40);
  return [
    { name: 'query_reply_soft_10k_x_10', bytes: reply(10_000, 10, event) },
    { name: 'consensus_soft_10k_x_10', bytes: encodeMessage(validateSessionMessage({ type: 'consensus', v: PROTOCOL_VERSION, round: 3, indices: indices(10_000), rows: 10_000, cols: 10, soft: soft(10_000, 10) } as never)) },
    { name: 'query_request_10k', bytes: encodeMessage(validateSessionMessage({ type: 'query_request', v: PROTOCOL_VERSION, requestId: 'q-1', round: 3, publicSet: { datasetSpec: 'mnist:public', hash: 'sha256:ab' }, indices: indices(10_000), replyKind: 'soft_labels', params: { temperature: 2, clip: 1 } } as never)) },
    // the largest a soft-label reply can be under the default 16 MiB frame limit
    { name: `query_reply_soft_${maxRows}_x_10_frame_max`, bytes: reply(maxRows, 10, event) },
    // the privacy-event schema allows data-dependent votes for up to 100,000 classes: the item-heaviest legit field
    { name: 'query_reply_pate_votes_100k_classes', bytes: reply(100, 10, { type: 'pate_gnmax', sigma: 40, votes: Array.from({ length: 100_000 }, (_, i) => i % 50) }) },
  ];
}

function main(): void {
  const legit = legitimate().map(({ name, bytes }) => {
    const { ms, outcome } = time(bytes, 5);
    log(`legit ${name}: ${bytes.length} B, ${ms.toFixed(2)} ms (${outcome})`);
    return { name, bytes: bytes.length, ms: round(ms), ms_per_mib: round(ms / (bytes.length / MiB)), outcome };
  });
  const legitSize = legit[0]!.bytes;
  // every distinct per-type limit (capped by the frame limit), plus the legit message's size
  const types = ['heartbeat', 'error', 'metrics', 'welcome', 'query_request', 'query_reply'];
  const targets: { type: string; bytes: number; why: string }[] = [{ type: 'query_reply', bytes: legitSize, why: 'size of the 10k×10 soft-label reply' }];
  for (const type of types) targets.push({ type, bytes: messageSizeLimit(type, limits), why: `${type} size limit` });
  // a frame-sized message whose envelope claims a small type (the size check used to run only after decoding)
  targets.push({ type: 'metrics', bytes: limits.maxFrameBytes, why: 'frame limit, claiming a 64 KiB type' });
  const hostile: { kind: string; type: string; target: string; bytes: number; ms: number; ms_per_mib: number; outcome: string }[] = [];
  for (const t of targets) {
    if (quick && t.bytes > 2 * MiB) continue;
    for (const kind of HOSTILE) {
      const bytes = kind.build(t.type, t.bytes);
      const { ms, outcome } = time(bytes, t.bytes > MiB ? 1 : 3);
      hostile.push({ kind: kind.name, type: t.type, target: t.why, bytes: bytes.length, ms: round(ms), ms_per_mib: round(ms / (bytes.length / MiB)), outcome });
      log(`hostile ${kind.name} as ${t.type}: ${bytes.length} B, ${ms.toFixed(2)} ms (${outcome})`);
    }
  }
  const worst = hostile.reduce((a, b) => (b.ms > a.ms ? b : a));
  const legitMax = legit.reduce((a, b) => (b.ms > a.ms ? b : a));
  process.stdout.write(JSON.stringify({
    bench: 'hostile-decode', seed: SEED, node: process.version, quick, entry_point: 'protocols/inbound.ts readSessionPayload (what SecureSession runs on each decrypted frame)',
    legit, hostile, worst_hostile: worst, slowest_legit: legitMax, worst_hostile_over_slowest_legit: round(worst.ms / legitMax.ms),
  }) + '\n');
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

main();
