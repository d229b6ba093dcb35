// The session's inbound path without a socket: cheap refusals come before msgpackr, with stable codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode as rawPack } from 'msgpackr';
import { encodeMessage } from '../../../protocols/codec.ts';
import { DEFAULT_CONNECTION_LIMITS, FIELD_LIMITS, messageSizeLimit } from '../../../protocols/limits.ts';
import { readSessionPayload } from '../../../protocols/inbound.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';

const limits = DEFAULT_CONNECTION_LIMITS;
const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

test('a frame-sized soft-label reply (the largest legitimate message) is accepted', () => {
  const rows = Math.floor((limits.maxFrameBytes - 1024) / 40);
  const bytes = encodeMessage({ type: 'query_reply', v: PROTOCOL_VERSION, requestId: 'q-1', round: 0, replyKind: 'soft_labels', rows, cols: 10, soft: new Float32Array(rows * 10).fill(0.1), privacyEvent: { type: 'gaussian', noise_multiplier: 1, count: rows }, stats: { teachers: 1 } });
  assert.ok(bytes.length > limits.maxFrameBytes - 2048 && bytes.length <= limits.maxFrameBytes);
  assert.equal(readSessionPayload(bytes, limits).type, 'query_reply');
});

test('a message larger than the type it claims allows is refused (E_MSG_TOO_LARGE) before it is decoded', () => {
  // one 1 MiB binary passes the shape scan; 'metrics' allows 64 KiB; decoding would also fail (unknown field)
  const bin = [0xc6, ...u32(1024 * 1024)];
  const head = [0x82, 0xa4, ...Buffer.from('type'), 0xa7, ...Buffer.from('metrics'), 0xa4, ...Buffer.from('junk'), ...bin];
  const bytes = new Uint8Array(head.length + 1024 * 1024);
  bytes.set(head);
  assert.throws(() => readSessionPayload(bytes, limits), { code: 'E_MSG_TOO_LARGE', message: /metrics of \d+ bytes exceeds its limit of 65536/ });
  // a missing type, or one that names an Object.prototype member, gets the 4 KiB default
  for (const type of [undefined, 'constructor', '__proto__', 'toString']) {
    const m = rawPack(new Map<string, unknown>([...(type === undefined ? [] : [['type', type] as [string, unknown]]), ['junk', new Uint8Array(8 * 1024)]]));
    assert.throws(() => readSessionPayload(m, limits), { code: 'E_MSG_TOO_LARGE' }, String(type));
  }
  assert.equal(messageSizeLimit('constructor', limits), 4 * 1024);
});

test('a reply of many tiny maps within its size limit is refused with E_MSG_TOO_COMPLEX (close 4006)', () => {
  const n = 300_000;
  const head = [0x82, 0xa4, ...Buffer.from('type'), 0xab, ...Buffer.from('query_reply'), 0xa4, ...Buffer.from('junk'), 0xdd, ...u32(n)];
  const bytes = new Uint8Array(head.length + n).fill(0x80);
  bytes.set(head);
  assert.ok(bytes.length < messageSizeLimit('query_reply', limits));
  assert.throws(() => readSessionPayload(bytes, limits), (e: { code?: string; closeCode?: number }) => e.code === 'E_MSG_TOO_COMPLEX' && e.closeCode === 4006);
  // the same within the budgets reaches the validator, which refuses the unknown field
  const few = new Uint8Array(head.length + 100).fill(0x80);
  few.set(head.slice(0, -4));
  few.set(u32(100), head.length - 4);
  assert.throws(() => readSessionPayload(few, limits), { code: 'E_MSG_INVALID' });
  assert.ok(FIELD_LIMITS.maxDecodedContainers < n);
});

test('a frame of medium strings is refused (E_MSG_TOO_COMPLEX) before decoding: strings cost far more per byte than typed arrays', () => {
  // 131,000 strings of 31 four-byte characters (124 B): within the value budget, 16 MiB in all. msgpackr
  // decodes every string byte, ~6x the decode time of the legitimate frame-sized reply (bench in docs/channel.md).
  const item = [0xd9, 124, ...Buffer.from('\u{1F600}'.repeat(31))];
  const n = 131_000;
  const head = [0x82, 0xa4, ...Buffer.from('type'), 0xab, ...Buffer.from('query_reply'), 0xa4, ...Buffer.from('junk'), 0xdd, ...u32(n)];
  const bytes = new Uint8Array(head.length + n * item.length);
  bytes.set(head);
  for (let i = 0; i < n; i++) bytes.set(item, head.length + i * item.length);
  assert.ok(bytes.length <= messageSizeLimit('query_reply', limits) && n < FIELD_LIMITS.maxDecodedItems);
  assert.throws(() => readSessionPayload(bytes, limits), (e: { code?: string; closeCode?: number; message?: string }) =>
    e.code === 'E_MSG_TOO_COMPLEX' && e.closeCode === 4006 && /bytes of strings/.test(e.message ?? ''));
  // the largest legitimate text, a welcome of free-form config at its 256 KiB size limit, still passes
  const config: Record<string, string> = {};
  for (let i = 0; i < 250; i++) config[`k${i}`] = 'é'.repeat(500);
  const welcome = encodeMessage({ type: 'welcome', v: PROTOCOL_VERSION, requestId: 'j-1', runId: 'run-1', config });
  assert.ok(welcome.length > 250_000 && welcome.length <= messageSizeLimit('welcome', limits));
  assert.equal(readSessionPayload(welcome, limits).type, 'welcome');
});

test('the size limit applies as soon as the type is read: an oversized message is refused without walking the rest', () => {
  // 'metrics' allows 64 KiB; after the type come 100,000 nils and then a truncated string header:
  // walked to the end this is E_MSG_DECODE, refused at the type it is E_MSG_TOO_LARGE
  const head = [0x82, 0xa4, ...Buffer.from('type'), 0xa7, ...Buffer.from('metrics'), 0xa4, ...Buffer.from('junk'), 0xdd, ...u32(100_001)];
  const bytes = new Uint8Array(head.length + 100_000 + 2);
  bytes.set(head);
  bytes.fill(0xc0, head.length, head.length + 100_000);
  bytes.set([0xd9, 0xff], head.length + 100_000); // str8 of 255 bytes, none present
  assert.ok(bytes.length > 64 * 1024);
  assert.throws(() => readSessionPayload(bytes, limits), { code: 'E_MSG_TOO_LARGE', message: /metrics of \d+ bytes exceeds its limit of 65536/ });
});
