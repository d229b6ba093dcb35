// A SecureSession over a transport whose send buffer the test sets: past maxSendBufferBytes it closes with E_PEER_NOT_READING.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CHANNEL_ERRORS, type ChannelError } from '../../../protocols/error-catalogue.ts';
import { decodeMessage } from '../../../protocols/codec.ts';
import type { ConnectionLimits } from '../../../protocols/limits.ts';
import { FrameOpener } from '../../../shared/crypto/frame-cipher.ts';
import { connectionLimitsAt, resolveConnectionLimits } from '../../../shared/channel/connection-limits.ts';
import { SecureSession } from '../../../shared/channel/secure-session.ts';
import type { FrameTransport } from '../../../shared/channel/transport.ts';
import type { FedistillError } from '../../../shared/util/errors.ts';

/** A transport that queues what the session sends and never drains it: a peer that does not read. */
class UnreadTransport implements FrameTransport {
  readonly remoteAddress = 'test:peer';
  readonly sent: Uint8Array[] = [];
  closedWith: { code: number; reason: string; stopReading?: boolean } | undefined;
  private readonly closeHandlers: ((code: number, reason: string) => void)[] = [];
  get isOpen(): boolean { return this.closedWith === undefined; }
  send(frame: Uint8Array): void { this.sent.push(frame); }
  close(code: number, reason: string, opts: { stopReading?: boolean } = {}): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason, stopReading: opts.stopReading };
    for (const h of this.closeHandlers.splice(0)) h(code, reason);
  }
  onFrame(): void {}
  onClose(handler: (code: number, reason: string) => void): void { this.closeHandlers.push(handler); }
  bufferedBytes(): number { return this.sent.reduce((n, f) => n + f.length, 0); }
}

function aggregatorSession(overrides: Partial<ConnectionLimits>) {
  const limits = resolveConnectionLimits(overrides);
  const keys = { clientToServer: randomBytes(32), serverToClient: randomBytes(32), confirmClient: randomBytes(32), confirmServer: randomBytes(32), transcriptHash: randomBytes(32) };
  const transport = new UnreadTransport();
  const session = new SecureSession(transport, { keys, peerPublicKey: new Uint8Array(32), siteName: 'site-a', minor: 0 }, 'server', limits);
  // what the site would read, if it read: the frames in order
  const opener = new FrameOpener(keys.serverToClient);
  const read = () => transport.sent.map((f) => decodeMessage(opener.open(f)) as { type: string; code?: string });
  return { session, transport, read };
}

const consensus = (round: number) => ({ type: 'consensus' as const, round, indices: new Uint32Array(16 * 1024), rows: 16 * 1024, cols: 1, labels: new Int32Array(16 * 1024) });

test('a peer that leaves more than maxSendBufferBytes unread is closed with E_PEER_NOT_READING (4036); the send throws E_SESSION_CLOSED', () => {
  const { session, transport, read } = aggregatorSession({ maxFrameBytes: 256 * 1024, maxSendBufferBytes: 512 * 1024 });
  let sent = 0;
  let thrown: FedistillError | undefined;
  for (let round = 0; round < 100 && !thrown; round++) {
    try {
      session.send(consensus(round)); // ~128 KiB each
      sent++;
    } catch (e) {
      thrown = e as FedistillError;
    }
  }
  assert.equal(sent, 3, 'three 128 KiB frames fit in 512 KiB; the fourth would pass it');
  assert.equal(thrown?.code, 'E_SESSION_CLOSED', 'callers see the code they already handle (a closed session)');
  assert.match(thrown!.message, /^session with site-a closed: E_PEER_NOT_READING: 384(\.\d+)? KiB unread, 128(\.\d+)? KiB more would pass maxSendBufferBytes 512 KiB; raise it if the link is slow$/);
  assert.equal(transport.closedWith?.code, CHANNEL_ERRORS.E_PEER_NOT_READING.close);
  assert.equal(transport.closedWith?.stopReading, true, 'cut off soon: waiting for its close frame would keep the unread bytes');
  assert.ok(transport.closedWith!.reason.startsWith('E_PEER_NOT_READING: '));
  assert.equal(session.closed?.errorCode, 'E_PEER_NOT_READING');
  assert.equal(session.closed?.local, true);
  // the close is still announced inside the session (one small notice past the cap), should the peer read again
  const frames = read();
  assert.equal(frames.length, 4);
  assert.deepEqual({ type: frames[3]!.type, code: frames[3]!.code }, { type: 'error', code: 'E_PEER_NOT_READING' });
  assert.ok(transport.bufferedBytes() < 512 * 1024 + 1024);
  assert.throws(() => session.send(consensus(9)), (e: ChannelError) => e.code === 'E_SESSION_CLOSED');
});

test('a request on a session whose peer stopped reading rejects with E_SESSION_CLOSED, and frees its in-flight slot', async () => {
  const { session } = aggregatorSession({ maxFrameBytes: 64 * 1024, maxSendBufferBytes: 64 * 1024 + 25 });
  session.send({ type: 'consensus', round: 0, indices: new Uint32Array(4000), rows: 4000, cols: 1, labels: new Int32Array(4000) });
  const query = { type: 'query_request' as const, round: 1, publicSet: { datasetSpec: 'test:public', hash: 'sha256:00' }, indices: new Uint32Array(12_000), replyKind: 'votes' as const, params: {} };
  await assert.rejects(session.request(query), (e: ChannelError) => e.code === 'E_SESSION_CLOSED' && /E_PEER_NOT_READING/.test(e.message));
  assert.equal(session.tracker.inFlight, 0);
  assert.equal(session.closed?.code, 4036);
});

test('one frame of maxFrameBytes always fits an empty send buffer; heartbeats and small messages pass below the cap', () => {
  const { session, transport } = aggregatorSession({ maxFrameBytes: 64 * 1024, maxSendBufferBytes: 64 * 1024 + 25 });
  session.send({ type: 'consensus', round: 0, indices: new Uint32Array(8000), rows: 8000, cols: 1, labels: new Int32Array(8000) });
  assert.ok(session.isOpen);
  transport.sent.length = 0; // drained
  for (let i = 0; i < 100; i++) session.send({ type: 'heartbeat', kind: 'ping', seq: i });
  assert.ok(session.isOpen);
  session.close();
});

test('maxSendBufferBytes: defaults to four max-size frames and follows maxFrameBytes; less than one frame is refused; max_send_buffer_bytes in YAML', () => {
  assert.equal(resolveConnectionLimits().maxSendBufferBytes, 4 * (16 * 1024 * 1024 + 25));
  assert.equal(resolveConnectionLimits({ maxFrameBytes: 1024 * 1024 }).maxSendBufferBytes, 4 * (1024 * 1024 + 25));
  assert.equal(resolveConnectionLimits({ maxSendBufferBytes: Infinity }).maxSendBufferBytes, Infinity);
  assert.throws(() => resolveConnectionLimits({ maxFrameBytes: 1024 * 1024, maxSendBufferBytes: 1024 * 1024 }),
    (e: FedistillError) => e.code === 'E_INVALID_PARAMETER' && /limits\.maxSendBufferBytes: 1048576 bytes cannot hold one frame .* at least 1048601/.test(e.message));
  assert.throws(() => resolveConnectionLimits({ maxSendBufferBytes: 0 }), /limits\.maxSendBufferBytes: must be a positive number/);
  assert.deepEqual(connectionLimitsAt({ max_send_buffer_bytes: 128 * 1024 * 1024 }), { maxSendBufferBytes: 128 * 1024 * 1024 });
  assert.deepEqual(connectionLimitsAt({ max_send_buffer_bytes: Infinity }), { maxSendBufferBytes: Infinity });
  assert.throws(() => connectionLimitsAt({ max_send_bufer_bytes: 1 }), /connection_limits\.max_send_bufer_bytes: is not a known setting \(did you mean max_send_buffer_bytes\?\)/);
  assert.throws(() => connectionLimitsAt({ max_send_buffer_bytes: 10 }), /connection_limits\.max_send_buffer_bytes: 10 bytes cannot hold one frame/);
});
