// Hostile and broken peers on real loopback websockets: each is closed with its documented code, others keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import { encode as rawPack } from 'msgpackr';
import { CHANNEL_ERRORS } from '../../../protocols/error-catalogue.ts';
import { encodeMessage } from '../../../protocols/codec.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { FrameSealer } from '../../../shared/crypto/frame-cipher.ts';
import { runClientHandshake } from '../../../shared/channel/handshake-driver.ts';
import { WsTransport } from '../../../shared/channel/ws-transport.ts';
import type { SecureServer } from '../../../shared/channel/secure-server.ts';
import { clientFor, serverIdentity, siteA, siteB, startServer } from './helpers.ts';

/** A site that does the handshake itself and then writes frames by hand. */
async function rawSite(server: SecureServer): Promise<{ ws: WebSocket; sealer: FrameSealer; closed: Promise<number> }> {
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r) => ws.once('open', r));
  const result = await runClientHandshake(new WsTransport(ws, server.url), { identity: siteA, serverPublicKey: serverIdentity.publicKey, timeoutMs: 2000 });
  return { ws, sealer: new FrameSealer(result.keys.clientToServer), closed };
}

function openWs(server: SecureServer): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  ws.on('error', () => {});
  return new Promise((r) => ws.once('open', () => r({ ws, closed })));
}

const metrics = (round: number): Uint8Array => encodeMessage({ type: 'metrics', v: PROTOCOL_VERSION, round, values: { loss: 1 } });

test('an altered ciphertext closes the session with E_FRAME_AUTH', async () => {
  const server = await startServer();
  const { ws, sealer, closed } = await rawSite(server);
  const frame = sealer.seal(metrics(1));
  frame[frame.length - 20]! ^= 0x01;
  ws.send(frame);
  assert.equal(await closed, CHANNEL_ERRORS.E_FRAME_AUTH.close);
  await server.close();
});

test('a replayed frame closes the session with E_FRAME_REPLAYED', async () => {
  const server = await startServer();
  const { ws, sealer, closed } = await rawSite(server);
  const frame = sealer.seal(metrics(1));
  ws.send(frame);
  ws.send(frame);
  assert.equal(await closed, CHANNEL_ERRORS.E_FRAME_REPLAYED.close);
  await server.close();
});

test('reordered frames close the session with E_FRAME_OUT_OF_ORDER', async () => {
  const server = await startServer();
  const { ws, sealer, closed } = await rawSite(server);
  const first = sealer.seal(metrics(1));
  const second = sealer.seal(metrics(2));
  ws.send(second);
  ws.send(first);
  assert.equal(await closed, CHANNEL_ERRORS.E_FRAME_OUT_OF_ORDER.close);
  await server.close();
});

test('an oversize frame closes that connection (1009) while the server keeps serving other sites', async () => {
  const server = await startServer({ limits: { maxFrameBytes: 64 * 1024 } });
  const good = clientFor(server, siteB);
  good.on('message', (m) => m.type === 'query_request' && good.send({ type: 'query_reply', requestId: m.requestId, round: 0, replyKind: 'votes', rows: 1, cols: 1, votes: new Int32Array([3]) }));
  await good.start();
  const { ws, closed } = await rawSite(server);
  ws.send(new Uint8Array(200 * 1024));
  assert.equal(await closed, CHANNEL_ERRORS.E_FRAME_TOO_LARGE.close);
  const reply = await server.request('site-b', { type: 'query_request', round: 0, publicSet: { datasetSpec: 'd', hash: 'h' }, indices: new Uint32Array([7]), replyKind: 'votes', params: {} });
  assert.equal(reply.type, 'query_reply');
  good.close();
  await server.close();
});

test('a message from another protocol major is refused with E_UNSUPPORTED_VERSION', async () => {
  const server = await startServer();
  const { ws, sealer, closed } = await rawSite(server);
  ws.send(sealer.seal(encodeMessage({ type: 'metrics', v: [2, 0], round: 1, values: {} })));
  assert.equal(await closed, CHANNEL_ERRORS.E_UNSUPPORTED_VERSION.close);
  const hello = await openWs(server);
  hello.ws.send(encodeMessage({ type: 'hs.client_hello', v: [2, 0], ephemeral: new Uint8Array(32), nonce: new Uint8Array(16), timestamp: Date.now() }));
  assert.equal(await hello.closed, CHANNEL_ERRORS.E_UNSUPPORTED_VERSION.close);
  await server.close();
});

test('a __proto__ key on the wire is refused (E_MSG_FORBIDDEN_KEY) and pollutes nothing', async () => {
  const server = await startServer();
  const { ws, sealer, closed } = await rawSite(server);
  // msgpackr's plain encoder writes "__proto__" as an ordinary map key when given a Map
  const evil = rawPack(new Map<string, unknown>([['type', 'metrics'], ['v', [1, 0]], ['round', 1], ['values', new Map([['__proto__', new Map([['polluted', 1]])]])]]));
  ws.send(sealer.seal(evil));
  assert.equal(await closed, CHANNEL_ERRORS.E_MSG_FORBIDDEN_KEY.close);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  await server.close();
});

test('garbage, a half-finished handshake and silent clients are cleaned up by timeouts', async () => {
  const server = await startServer({ limits: { handshakeTimeoutMs: 150, idleTimeoutMs: 200, heartbeatIntervalMs: 10_000 } });
  // binary garbage where a handshake should be
  const garbage = await openWs(server);
  garbage.ws.send(Buffer.from('this is not msgpack \xff\xfe'));
  // a text frame
  const text = await openWs(server);
  text.ws.send('hello');
  // a hello and then nothing
  const half = await openWs(server);
  half.ws.send(encodeMessage({ type: 'hs.client_hello', v: PROTOCOL_VERSION, ephemeral: new Uint8Array(32).fill(9), nonce: new Uint8Array(16).fill(1), timestamp: Date.now() }));
  // a websocket that never sends
  const silent = await openWs(server);
  // a TCP connection that never even upgrades, and one that sends raw garbage
  const tcpClosed = (payload?: string): Promise<boolean> => new Promise((resolve) => {
    const s = tcpConnect(server.port, '127.0.0.1', () => payload && s.write(payload));
    s.on('error', () => {});
    s.on('close', () => resolve(true));
  });
  const tcpSilent = tcpClosed();
  const tcpGarbage = tcpClosed('\x00\x01garbage\r\n\r\n');
  // a site that completes the handshake and then never answers pings
  const idle = await rawSite(server);
  assert.equal(await garbage.closed, CHANNEL_ERRORS.E_HANDSHAKE_FAILED.close);
  assert.equal(await text.closed, CHANNEL_ERRORS.E_FRAME_MALFORMED.close);
  assert.equal(await half.closed, CHANNEL_ERRORS.E_HANDSHAKE_TIMEOUT.close);
  assert.equal(await silent.closed, CHANNEL_ERRORS.E_HANDSHAKE_TIMEOUT.close);
  assert.equal(await tcpSilent, true);
  assert.equal(await tcpGarbage, true);
  assert.equal(await idle.closed, CHANNEL_ERRORS.E_IDLE_TIMEOUT.close);
  assert.ok((server.stats.refused.E_HANDSHAKE_TIMEOUT ?? 0) >= 2);
  await server.close();
});

test('handshakes over the per-address rate are refused with E_RATE_LIMITED', async () => {
  const server = await startServer({ handshakesPerSecondPerAddress: 2 });
  await clientFor(server, siteA).start();
  await clientFor(server, siteB).start();
  await assert.rejects(clientFor(server, siteA).start(), { code: 'E_RATE_LIMITED' });
  await server.close();
});

test('a recorded client hello cannot be replayed (E_HANDSHAKE_REPLAY)', async () => {
  const server = await startServer();
  const hello = encodeMessage({ type: 'hs.client_hello', v: PROTOCOL_VERSION, ephemeral: new Uint8Array(32).fill(5), nonce: new Uint8Array(16).fill(7), timestamp: Date.now() });
  const first = await openWs(server);
  first.ws.send(hello);
  await new Promise((r) => first.ws.once('message', r)); // the server answered the original
  first.ws.close();
  const replay = await openWs(server);
  replay.ws.send(hello);
  assert.equal(await replay.closed, CHANNEL_ERRORS.E_HANDSHAKE_REPLAY.close);
  const stale = await openWs(server);
  stale.ws.send(encodeMessage({ type: 'hs.client_hello', v: PROTOCOL_VERSION, ephemeral: new Uint8Array(32).fill(5), nonce: new Uint8Array(16).fill(8), timestamp: Date.now() - 3_600_000 }));
  assert.equal(await stale.closed, CHANNEL_ERRORS.E_HANDSHAKE_REPLAY.close);
  await server.close();
});
