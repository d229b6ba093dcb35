// Unauthenticated peers on real loopback websockets: oversize pre-handshake data, replayed client auth, crowds of silent sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { CHANNEL_ERRORS } from '../../../protocols/error-catalogue.ts';
import { decodeMessage, encodeMessage } from '../../../protocols/codec.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { runClientHandshake } from '../../../shared/channel/handshake-driver.ts';
import type { SecureServer } from '../../../shared/channel/secure-server.ts';
import { PRE_AUTH_MAX_BYTES } from '../../../shared/channel/pre-auth-guard.ts';
import { WsTransport } from '../../../shared/channel/ws-transport.ts';
import { nodePrimitives } from '../../../shared/crypto/primitives.ts';
import { clientFor, serverIdentity, siteA, siteB, startServer } from './helpers.ts';

function openWs(server: SecureServer): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  ws.on('error', () => {});
  return new Promise((r) => ws.once('open', () => r({ ws, closed })));
}

const roundTrip = (server: SecureServer, site: string) => server.request(site, { type: 'query_request', round: 0, publicSet: { datasetSpec: 'd', hash: 'h' }, indices: new Uint32Array([1]), replyKind: 'votes', params: {} });

test('more than PRE_AUTH_MAX_BYTES before the handshake closes the connection with 1009, long before the session frame limit', async () => {
  const server = await startServer();
  const good = clientFor(server, siteB);
  good.on('message', (m) => m.type === 'query_request' && good.send({ type: 'query_reply', requestId: m.requestId, round: 0, replyKind: 'votes', rows: 1, cols: 1, votes: new Int32Array([0]) }));
  await good.start();
  const big = await openWs(server);
  // one unfinished fragment: ws would buffer it up to maxFrameBytes (16 MiB) waiting for the rest
  big.ws.send(Buffer.alloc(PRE_AUTH_MAX_BYTES * 4, 7), { fin: false });
  assert.equal(await big.closed, CHANNEL_ERRORS.E_FRAME_TOO_LARGE.close);
  assert.equal((await roundTrip(server, 'site-b')).type, 'query_reply');
  good.close();
  await server.close();
});

test('a recorded client auth replayed after a fresh hello fails its signature (E_BAD_SIGNATURE)', async () => {
  const server = await startServer();
  const sent: Uint8Array[] = [];
  const first = await openWs(server);
  const transport = new WsTransport(first.ws, server.url);
  const send = transport.send.bind(transport);
  transport.send = (frame) => { sent.push(frame); send(frame); };
  await runClientHandshake(transport, { identity: siteA, serverPublicKey: serverIdentity.publicKey, timeoutMs: 2000 });
  const recordedAuth = sent[1]!;
  assert.equal((decodeMessage(recordedAuth) as { type: string }).type, 'hs.client_auth');
  first.ws.close();
  const attacker = await openWs(server);
  attacker.ws.send(encodeMessage({ type: 'hs.client_hello', v: PROTOCOL_VERSION, ephemeral: nodePrimitives.ephemeralKeyPair().publicKey, nonce: new Uint8Array(randomBytes(16)), timestamp: Date.now() }));
  await new Promise((r) => attacker.ws.once('message', r));
  attacker.ws.send(recordedAuth);
  assert.equal(await attacker.closed, CHANNEL_ERRORS.E_BAD_SIGNATURE.close);
  await server.close();
});

test('sixty silent sockets are all closed by the handshake timeout while an allowlisted site connects and is served', async () => {
  const server = await startServer({ limits: { handshakeTimeoutMs: 400 } });
  const silent = await Promise.all(Array.from({ length: 60 }, () => openWs(server)));
  const good = clientFor(server, siteA);
  good.on('message', (m) => m.type === 'query_request' && good.send({ type: 'query_reply', requestId: m.requestId, round: 0, replyKind: 'votes', rows: 1, cols: 1, votes: new Int32Array([2]) }));
  await good.start();
  assert.equal((await roundTrip(server, 'site-a')).type, 'query_reply');
  const codes = await Promise.all(silent.map((s) => s.closed));
  assert.deepEqual([...new Set(codes)], [CHANNEL_ERRORS.E_HANDSHAKE_TIMEOUT.close]);
  assert.equal(server.stats.refused.E_HANDSHAKE_TIMEOUT, 60);
  good.close();
  await server.close();
});

test('handshakes in progress over all addresses are capped: past maxPendingHandshakes a peer is refused at once, and a slot frees when one ends', async () => {
  const server = await startServer({ limits: { handshakeTimeoutMs: 600, maxPendingHandshakes: 3 } });
  const silent = await Promise.all(Array.from({ length: 3 }, () => openWs(server)));
  await new Promise((r) => setTimeout(r, 50));
  const extra = await openWs(server);
  assert.equal(await extra.closed, CHANNEL_ERRORS.E_RATE_LIMITED.close);
  assert.equal(server.stats.refused.E_RATE_LIMITED, 1);
  // The silent ones time out; then an allowlisted site gets a slot and is served.
  await Promise.all(silent.map((s) => s.closed));
  const good = clientFor(server, siteA);
  good.on('message', (m) => m.type === 'query_request' && good.send({ type: 'query_reply', requestId: m.requestId, round: 0, replyKind: 'votes', rows: 1, cols: 1, votes: new Int32Array([1]) }));
  await good.start();
  assert.equal((await roundTrip(server, 'site-a')).type, 'query_reply');
  good.close();
  await server.close();
});

/** A websocket from `localAddress` (any 127.x address on loopback) that says nothing; resolves once open, with its close code and reason. */
function silentFrom(server: SecureServer, localAddress: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(server.url, { perMessageDeflate: false, localAddress });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  return new Promise((r) => ws.once('open', () => r({ ws, closed })));
}

test('handshakes in progress from one address are capped (maxPendingHandshakesPerAddress): one address cannot fill the global cap; refusals give no counts', async () => {
  const server = await startServer({ limits: { handshakeTimeoutMs: 3000, helloTimeoutMs: 3000, maxPendingHandshakes: 6, maxPendingHandshakesPerAddress: 3 } });
  const silent = await Promise.all(Array.from({ length: 6 }, () => silentFrom(server, '127.0.0.2')));
  await new Promise((r) => setTimeout(r, 50));
  const refused = await Promise.race([Promise.all(silent.slice(3).map((s) => s.closed)), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('the 4th to 6th were not refused')), 1000))]);
  for (const r of refused) {
    assert.equal(r.code, CHANNEL_ERRORS.E_RATE_LIMITED.close);
    assert.match(r.reason, /^E_RATE_LIMITED: too many handshakes in progress from your address/);
    assert.doesNotMatch(r.reason, /\d/, 'no count in the close reason');
  }
  // the site, from another address, still finds a slot
  const good = clientFor(server, siteA);
  good.on('message', (m) => m.type === 'query_request' && good.send({ type: 'query_reply', requestId: m.requestId, round: 0, replyKind: 'votes', rows: 1, cols: 1, votes: new Int32Array([1]) }));
  await good.start();
  assert.equal((await roundTrip(server, 'site-a')).type, 'query_reply');
  good.close();
  for (const s of silent) s.ws.terminate();
  await server.close();
});

test('a websocket that sends no client hello is closed after helloTimeoutMs, long before handshakeTimeoutMs; one that sent it gets the whole handshake timeout', async () => {
  const server = await startServer({ limits: { handshakeTimeoutMs: 1500, helloTimeoutMs: 150 } });
  const t0 = Date.now();
  const silent = await silentFrom(server, '127.0.0.1');
  const closedSilent = await silent.closed;
  const silentMs = Date.now() - t0;
  assert.equal(closedSilent.code, CHANNEL_ERRORS.E_HANDSHAKE_TIMEOUT.close);
  assert.match(closedSilent.reason, /no hs\.client_hello within 150 ms/);
  assert.ok(silentMs < 1000, `closed after ${silentMs} ms`);
  const hello = await silentFrom(server, '127.0.0.1');
  const t1 = Date.now();
  hello.ws.send(encodeMessage({ type: 'hs.client_hello', v: PROTOCOL_VERSION, ephemeral: nodePrimitives.ephemeralKeyPair().publicKey, nonce: new Uint8Array(randomBytes(16)), timestamp: Date.now() }));
  const closedHello = await hello.closed;
  assert.equal(closedHello.code, CHANNEL_ERRORS.E_HANDSHAKE_TIMEOUT.close);
  assert.match(closedHello.reason, /handshake did not complete within 1500 ms/);
  assert.ok(Date.now() - t1 >= 1200, `closed after ${Date.now() - t1} ms`);
  await server.close();
});
