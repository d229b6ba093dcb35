// Websocket pings and pongs are outside the session but not outside the budget: a flood of them closes with 4034.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CHANNEL_ERRORS } from '../../../protocols/error-catalogue.ts';
import { runClientHandshake } from '../../../shared/channel/handshake-driver.ts';
import { WsTransport } from '../../../shared/channel/ws-transport.ts';
import type { SecureServer } from '../../../shared/channel/secure-server.ts';
import type { SecureSession } from '../../../shared/channel/secure-session.ts';
import { clientFor, closed, nextSession, serverIdentity, siteA, siteB, sleep, startServer } from './helpers.ts';

/** site-a, authenticated over a raw `ws` socket, so the test can send websocket pings and pongs itself. */
async function rawSite(server: SecureServer): Promise<{ ws: WebSocket; pongs: () => number; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  const closedP = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  let pongs = 0;
  ws.on('pong', () => pongs++);
  await new Promise((r) => ws.once('open', r));
  await runClientHandshake(new WsTransport(ws, server.url), { identity: siteA, serverPublicKey: serverIdentity.publicKey, timeoutMs: 2000 });
  return { ws, pongs: () => pongs, closed: closedP };
}

const query = { type: 'query_request' as const, round: 0, publicSet: { datasetSpec: 'test:public', hash: 'sha256:00' }, indices: Uint32Array.of(1), replyKind: 'votes' as const, params: {} };

test('an authenticated peer flooding websocket pings is closed with E_INBOUND_RATE_EXCEEDED (4034); the other site is still answered', async () => {
  const server = await startServer();
  const honest = clientFor(server, siteB);
  honest.on('message', (m) => { if (m.type === 'query_request') honest.send({ type: 'query_reply', requestId: m.requestId, round: m.round, replyKind: 'votes', rows: 1, cols: 1, votes: Int32Array.of(2) }); });
  await honest.start();
  const accepted = nextSession(server);
  const site = await rawSite(server);
  const session: SecureSession = await accepted;
  const sessionClosed = closed(session);
  try {
    // The default budget: 2,000 messages at once, then 500/s; each ping costs us a pong. Batches of
    // 50, each read back before the next: ws itself cuts a peer with more than 60 of its automatic
    // pongs unwritten (maxPendingAutoPongs), but not one that reads them, however fast it pings.
    let sent = 0;
    const started = performance.now();
    while (sent < 20_000 && site.ws.readyState === site.ws.OPEN) {
      for (let i = 0; i < 50; i++, sent++) site.ws.ping(Buffer.alloc(125));
      const until = Date.now() + 1000;
      while (site.pongs() < sent - 10 && site.ws.readyState === site.ws.OPEN && Date.now() < until) await sleep(1);
    }
    const { code, reason } = await site.closed;
    assert.equal(code, CHANNEL_ERRORS.E_INBOUND_RATE_EXCEEDED.close);
    assert.match(reason, /^E_INBOUND_RATE_EXCEEDED: over inboundMessagesPerSecond 500\/s, burst 2000; raise them/);
    const info = await sessionClosed;
    assert.equal(info.errorCode, 'E_INBOUND_RATE_EXCEEDED');
    const stats = server.budgetFor('site-a').stats;
    const refilled = 500 * (performance.now() - started) / 1000;
    assert.ok(stats.controlFrames >= 2000 && stats.controlFrames <= 2001 + refilled, `the burst was admitted, then the flood refused (${stats.controlFrames} pings counted)`);
    assert.ok(site.pongs() <= stats.controlFrames + 1, `no pong past the close (${site.pongs()} pongs)`);
    assert.equal((await server.request('site-b', query, { timeoutMs: 5000 })).type, 'query_reply');
    assert.deepEqual(server.connectedSites, ['site-b']);
    console.log(JSON.stringify({ ws_ping_flood: { pings_written: sent, pings_counted: stats.controlFrames, pongs_received: site.pongs() } }));
  } finally {
    site.ws.terminate();
    honest.close();
    await server.close();
  }
});

test('a few websocket pings (a proxy\'s keep-alive) are answered and counted, and close nothing', async () => {
  const server = await startServer();
  const accepted = nextSession(server);
  const site = await rawSite(server);
  const session = await accepted;
  try {
    for (let i = 0; i < 10; i++) site.ws.ping();
    const until = Date.now() + 2000;
    while (site.pongs() < 10 && Date.now() < until) await sleep(10);
    assert.equal(site.pongs(), 10);
    assert.equal(server.budgetFor('site-a').stats.controlFrames, 10);
    assert.ok(session.isOpen);
  } finally {
    site.ws.terminate();
    await server.close();
  }
});

test('a normal session never sees a websocket ping or pong: fedistill\'s heartbeats travel inside the session', async () => {
  const server = await startServer({ limits: { heartbeatIntervalMs: 50 } });
  const client = clientFor(server, siteB, { limits: { heartbeatIntervalMs: 50 } });
  client.on('message', (m) => { if (m.type === 'query_request') client.send({ type: 'query_reply', requestId: m.requestId, round: m.round, replyKind: 'votes', rows: 1, cols: 1, votes: Int32Array.of(2) }); });
  const session = nextSession(server);
  await client.start();
  const s = await session;
  try {
    for (let i = 0; i < 20; i++) assert.equal((await server.request('site-b', { ...query, round: i }, { timeoutMs: 5000 })).type, 'query_reply');
    // heartbeats each way (every 50 ms idle; polled, since a loaded machine may delay timers by far more)
    const until = Date.now() + 10_000;
    while (!(s.stats.pingsSent > 1 && client.session!.stats.pingsSent > 1) && Date.now() < until) await sleep(20);
    assert.ok(s.stats.pingsSent > 1 && client.session!.stats.pingsSent > 1, 'heartbeats were sent');
    for (const stats of [server.budgetFor('site-b').stats, client.budget.stats]) {
      assert.equal(stats.controlFrames, 0);
      assert.equal(stats.unsolicited, 0);
    }
    assert.ok(s.isOpen && client.session?.isOpen);
  } finally {
    client.close();
    await server.close();
  }
});
