// A SecureSession fed sealed frames by hand (no socket, fake clock): budgets close it with their codes before decrypting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { encodeMessage } from '../../../protocols/codec.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { FrameSealer } from '../../../shared/crypto/frame-cipher.ts';
import { resolveConnectionLimits } from '../../../shared/channel/connection-limits.ts';
import { InboundBudget } from '../../../shared/channel/inbound-budget.ts';
import { SecureSession } from '../../../shared/channel/secure-session.ts';
import type { FrameTransport } from '../../../shared/channel/transport.ts';
import type { ConnectionLimits } from '../../../protocols/limits.ts';

/** A transport that records what the session sends and how it closes; the test delivers frames itself. */
class RecordingTransport implements FrameTransport {
  readonly remoteAddress = 'test:peer';
  readonly sent: Uint8Array[] = [];
  closedWith: { code: number; reason: string } | undefined;
  deliver: (frame: Uint8Array) => void = () => {};
  private readonly closeHandlers: ((code: number, reason: string) => void)[] = [];
  get isOpen(): boolean { return this.closedWith === undefined; }
  send(frame: Uint8Array): void { this.sent.push(frame); }
  close(code: number, reason: string): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    for (const h of this.closeHandlers.splice(0)) h(code, reason);
  }
  onFrame(handler: (frame: Uint8Array) => void): void { this.deliver = handler; }
  onClose(handler: (code: number, reason: string) => void): void { this.closeHandlers.push(handler); }
  bufferedBytes(): number { return 0; }
}

/** A server-side session for site-a, and a sealer that writes frames as site-a would. */
function serverSession(overrides: Partial<ConnectionLimits> = {}) {
  const limits = resolveConnectionLimits(overrides);
  let t = 0;
  const budget = new InboundBudget(limits, () => t);
  const keys = { clientToServer: randomBytes(32), serverToClient: randomBytes(32), confirmClient: randomBytes(32), confirmServer: randomBytes(32), transcriptHash: randomBytes(32) };
  const transport = new RecordingTransport();
  const session = new SecureSession(transport, { keys, peerPublicKey: new Uint8Array(32), siteName: 'site-a', minor: 0 }, 'server', limits, undefined, budget);
  const sealer = new FrameSealer(keys.clientToServer);
  const messages: string[] = [];
  session.on('message', (m) => messages.push(m.type));
  const send = (m: Record<string, unknown>): void => transport.deliver(sealer.seal(encodeMessage({ v: PROTOCOL_VERSION, ...m })));
  return { session, transport, sealer, send, messages, budget, advance: (ms: number) => { t += ms; } };
}

test('a flood of small valid messages is closed with E_INBOUND_RATE_EXCEEDED (4034) once the burst is spent', () => {
  const { session, transport, send, messages, advance } = serverSession({ inboundMessagesPerSecond: 10, inboundBurstMessages: 30 });
  for (let i = 0; i < 30; i++) send({ type: 'metrics', round: i, values: { loss: 1 } });
  assert.equal(messages.length, 30);
  advance(100); // one more message's worth
  send({ type: 'metrics', round: 30, values: { loss: 1 } });
  assert.equal(session.isOpen, true);
  send({ type: 'metrics', round: 31, values: { loss: 1 } });
  assert.equal(transport.closedWith?.code, 4034);
  assert.match(transport.closedWith!.reason, /^E_INBOUND_RATE_EXCEEDED: over inboundMessagesPerSecond 10\/s, burst 30/);
  assert.equal(session.closed?.errorCode, 'E_INBOUND_RATE_EXCEEDED');
  assert.equal(messages.length, 31, 'the refused message was not delivered');
  session.close();
});

test('the byte budget refuses a frame before decrypting it: an over-budget frame of garbage gets 4034, not E_FRAME_AUTH', () => {
  const limits = { maxFrameBytes: 64 * 1024, inboundBytesPerSecond: 1024, inboundBurstBytes: 128 * 1024 };
  const { transport, send } = serverSession(limits);
  const reply = (id: string) => ({ type: 'query_reply', requestId: id, round: 0, replyKind: 'soft_labels', rows: 1000, cols: 11, soft: new Float32Array(11_000) });
  send(reply('a')); // ~43 KiB each
  send(reply('b'));
  assert.ok(transport.isOpen);
  transport.deliver(randomBytes(60 * 1024)); // would fail authentication, if it were decrypted
  assert.equal(transport.closedWith?.code, 4034);
  assert.match(transport.closedWith!.reason, /inboundBytesPerSecond 1 KiB\/s, burst 128 KiB/);
});

test('replies to requests never made close the session after maxUnsolicitedMessages (E_UNSOLICITED_MESSAGES, 4035)', () => {
  const { session, transport, send, messages } = serverSession({ maxUnsolicitedMessages: 4 });
  const reply = (id: string) => ({ type: 'query_reply', requestId: id, round: 0, replyKind: 'votes', rows: 1, cols: 1, votes: Int32Array.of(1) });
  for (let i = 0; i < 4; i++) send(reply(`forged-${i}`));
  assert.equal(session.isOpen, true);
  assert.equal(messages.length, 0, 'unmatched replies are not delivered');
  send(reply('forged-4'));
  assert.equal(transport.closedWith?.code, 4035);
  assert.match(transport.closedWith!.reason, /^E_UNSOLICITED_MESSAGES: over maxUnsolicitedMessages 4 \(last: query_reply to no known request\)/);
});

test('pongs count against unsolicited messages only when no ping awaits them', () => {
  const { session, transport, send } = serverSession({ maxUnsolicitedMessages: 2 });
  session.send({ type: 'heartbeat', kind: 'ping', seq: 0 });
  session.send({ type: 'heartbeat', kind: 'ping', seq: 1 });
  send({ type: 'heartbeat', kind: 'pong', seq: 0 });
  send({ type: 'heartbeat', kind: 'pong', seq: 1 });
  send({ type: 'heartbeat', kind: 'pong', seq: 7 });
  send({ type: 'heartbeat', kind: 'pong', seq: 8 });
  assert.equal(session.isOpen, true, 'two answered pings, two strikes');
  send({ type: 'heartbeat', kind: 'pong', seq: 9 });
  assert.equal(transport.closedWith?.code, 4035);
  assert.match(transport.closedWith!.reason, /pong to no ping/);
});

test('a reply to a request that timed out is accepted once; a duplicate reply takes a strike', async () => {
  const { session, transport, send } = serverSession({ maxUnsolicitedMessages: 1 });
  const requestId = 'q-1';
  const pending = session.request({ type: 'query_request', requestId, round: 0, publicSet: { datasetSpec: 'p', hash: 'h' }, indices: Uint32Array.of(1), replyKind: 'votes', params: {} }, { timeoutMs: 1 });
  await assert.rejects(pending, { code: 'E_REQUEST_TIMEOUT' });
  const reply = { type: 'query_reply', requestId, round: 0, replyKind: 'votes', rows: 1, cols: 1, votes: Int32Array.of(1) };
  send(reply); // late: a slow site, not a strike
  send(reply); // duplicate: strike 1 of 1
  assert.equal(session.isOpen, true);
  assert.deepEqual({ late: session.tracker.stats.late, duplicates: session.tracker.stats.duplicates }, { late: 1, duplicates: 1 });
  send(reply);
  assert.equal(transport.closedWith?.code, 4035);
});

test('the application can report a message it had no reason to get; the session closes past the limit', () => {
  const { session, transport } = serverSession({ maxUnsolicitedMessages: 1 });
  session.reportUnsolicited('second join');
  assert.equal(session.isOpen, true);
  session.reportUnsolicited('second join');
  assert.equal(transport.closedWith?.code, 4035);
  assert.match(transport.closedWith!.reason, /last: second join/);
  session.reportUnsolicited('after close'); // harmless
});
