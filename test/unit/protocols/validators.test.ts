// Validators: every message type accepted in its valid form, and refused for each kind of defect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelError } from '../../../protocols/error-catalogue.ts';
import { decodeMessage, encodeMessage } from '../../../protocols/codec.ts';
import { validateHandshakeMessage, validateSessionMessage } from '../../../protocols/validators.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';

const v = PROTOCOL_VERSION;
const valid: Record<string, object> = {
  join: { type: 'join', v, requestId: 'j1', siteName: 'hospital-a', capabilities: ['votes', 'soft_labels'], datasetHashes: { 'mnist-public': 'sha256:00ff' } },
  welcome: { type: 'welcome', v, requestId: 'j1', runId: 'run-7', config: { strategy: 'gnmax', sigma: 40, rounds: [1, 2] } },
  leave: { type: 'leave', v, reason: 'maintenance' },
  query_request: { type: 'query_request', v, requestId: 'q1', round: 0, publicSet: { datasetSpec: 'mnist:test', hash: 'sha256:ab' }, indices: new Uint32Array([1, 5]), replyKind: 'votes', params: { temperature: 1, clip: 1 } },
  votes_reply: { type: 'query_reply', v, requestId: 'q1', round: 0, replyKind: 'votes', rows: 2, cols: 1, votes: new Int32Array([3, -1]), privacyEvent: { mechanism: 'none', eps: 0 } },
  histogram_reply: { type: 'query_reply', v, requestId: 'q1', round: 0, replyKind: 'vote_histogram', rows: 2, cols: 3, votes: new Uint16Array([1, 0, 4, 0, 5, 0]) },
  soft_reply: { type: 'query_reply', v, requestId: 'q1', round: 0, replyKind: 'logits', rows: 1, cols: 2, soft: new Float32Array([-3, 2.5]), stats: { ms: 12 } },
  consensus: { type: 'consensus', v, round: 0, indices: new Uint32Array([1, 5]), rows: 2, cols: 3, labels: new Int32Array([2, -1]), soft: new Float32Array(6) },
  metrics: { type: 'metrics', v, round: 2, values: { accuracy: 0.97 } },
  heartbeat: { type: 'heartbeat', v, kind: 'ping', seq: 4 },
  error: { type: 'error', v, code: 'E_BUDGET_EXHAUSTED', message: 'budget spent', requestId: 'q1' },
  bye: { type: 'bye', v, reason: 'run finished' },
};

const roundTrip = (m: object) => validateSessionMessage(decodeMessage(encodeMessage(m)));
const refusedWith = (code: string, m: object, pattern?: RegExp) =>
  assert.throws(() => roundTrip(m), (e: ChannelError) => e.code === code && (!pattern || pattern.test(e.message)), JSON.stringify(Object.keys(m)));

test('every v1 message type passes in its valid form, typed arrays intact', () => {
  for (const [name, m] of Object.entries(valid)) {
    const back = roundTrip(m);
    assert.equal(back.type, (m as { type: string }).type, name);
  }
  const r = roundTrip(valid.histogram_reply!) as { votes: Uint16Array };
  assert.ok(r.votes instanceof Uint16Array);
});

test('wrong types, missing fields and non-finite numbers are refused with E_MSG_INVALID', () => {
  refusedWith('E_MSG_INVALID', { ...valid.metrics, round: -1 }, /round/);
  refusedWith('E_MSG_INVALID', { ...valid.metrics, round: 1.5 }, /round/);
  refusedWith('E_MSG_INVALID', { ...valid.metrics, values: { loss: Infinity } }, /loss/);
  refusedWith('E_MSG_INVALID', { ...valid.query_request, indices: [1, 5] }, /indices.*Uint32Array/);
  refusedWith('E_MSG_INVALID', { ...valid.query_request, replyKind: 'everything' }, /replyKind/);
  refusedWith('E_MSG_INVALID', { type: 'join', v, requestId: 'j1' }, /siteName/);
  refusedWith('E_MSG_INVALID', { ...valid.soft_reply, soft: new Float32Array([NaN, 1]) }, /finite/);
  refusedWith('E_MSG_INVALID', { ...valid.error, code: 'lowercase' }, /code/);
  refusedWith('E_MSG_INVALID', { type: 'teleport', v }, /unknown session message type/);
  refusedWith('E_MSG_INVALID', { ...valid.heartbeat, v: 'one' }, /\.v/);
});

test('typed-array lengths must match rows × cols', () => {
  refusedWith('E_MSG_INVALID', { ...valid.histogram_reply, rows: 3 }, /rows×cols/);
  refusedWith('E_MSG_INVALID', { ...valid.consensus, indices: new Uint32Array([1]) }, /indices/);
  refusedWith('E_MSG_INVALID', { ...valid.consensus, soft: new Float32Array(5) }, /rows×cols/);
  refusedWith('E_MSG_INVALID', { ...valid.votes_reply, votes: new Int32Array([3, -2]) }, /abstain/);
  refusedWith('E_MSG_INVALID', { ...valid.votes_reply, soft: new Float32Array(2) }, /votes and no soft/);
});

test('unknown fields: refused at v1.0, dropped when the sender speaks a newer minor', () => {
  refusedWith('E_MSG_INVALID', { ...valid.metrics, extra: 1 }, /unknown field "extra"/);
  const newer = roundTrip({ ...valid.metrics, v: [1, 3], extra: 1 }) as unknown as Record<string, unknown>;
  assert.equal(newer.extra, undefined);
  assert.deepEqual(newer.v, [1, 3]);
});

test('another major version is refused with E_UNSUPPORTED_VERSION (close 4002)', () => {
  assert.throws(() => roundTrip({ ...valid.bye, v: [2, 0] }), (e: ChannelError) => e.code === 'E_UNSUPPORTED_VERSION' && e.closeCode === 4002 && /upgrade/.test(e.message));
});

test('handshake messages check byte lengths', () => {
  const hello = { type: 'hs.client_hello', v, ephemeral: new Uint8Array(32), nonce: new Uint8Array(16), timestamp: 1 };
  assert.equal(validateHandshakeMessage(decodeMessage(encodeMessage(hello))).type, 'hs.client_hello');
  assert.throws(() => validateHandshakeMessage(decodeMessage(encodeMessage({ ...hello, ephemeral: new Uint8Array(31) }))), /32 bytes/);
  assert.throws(() => validateHandshakeMessage(decodeMessage(encodeMessage({ ...hello, ephemeral: new Uint16Array(16) }))), /32 bytes/);
  assert.throws(() => validateSessionMessage(decodeMessage(encodeMessage(hello))), /unknown session message type/);
});

test('version numbers are u16 (the transcript writes them so): a larger minor is refused by the validator, not by a RangeError later', () => {
  const hello = { type: 'hs.client_hello', v: [1, 70_000], ephemeral: new Uint8Array(32), nonce: new Uint8Array(16), timestamp: 1 };
  assert.throws(() => validateHandshakeMessage(decodeMessage(encodeMessage(hello))), (e: ChannelError) => e.code === 'E_MSG_INVALID' && /0 to 65535/.test(e.message));
  refusedWith('E_MSG_INVALID', { ...valid.bye, v: [1, 65_536] }, /0 to 65535/);
  assert.equal(roundTrip({ ...valid.bye, v: [1, 65_535] }).type, 'bye');
});
