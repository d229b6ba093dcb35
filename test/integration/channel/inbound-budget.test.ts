// An authenticated peer that floods legitimate-looking traffic on loopback is cut off; the other site keeps being served.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CHANNEL_ERRORS } from '../../../protocols/error-catalogue.ts';
import { encodeMessage } from '../../../protocols/codec.ts';
import type { QueryRequest } from '../../../protocols/messages.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { FrameSealer } from '../../../shared/crypto/frame-cipher.ts';
import { runClientHandshake } from '../../../shared/channel/handshake-driver.ts';
import { WsTransport } from '../../../shared/channel/ws-transport.ts';
import type { SecureServer } from '../../../shared/channel/secure-server.ts';
import type { SecureSession } from '../../../shared/channel/secure-session.ts';
import { scriptedSite, startRun } from './aggregator-fixture.ts';
import { clientFor, closed, nextSession, serverIdentity, siteA, siteB, startServer } from './helpers.ts';

/** site-a, authenticated, writing sealed frames by hand as fast as the socket takes them. */
async function floodingSite(server: SecureServer): Promise<{ send: (m: Record<string, unknown>) => void; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  await new Promise((r) => ws.once('open', r));
  const result = await runClientHandshake(new WsTransport(ws, server.url), { identity: siteA, serverPublicKey: serverIdentity.publicKey, timeoutMs: 2000 });
  const sealer = new FrameSealer(result.keys.clientToServer);
  return { send: (m) => { if (ws.readyState === ws.OPEN) ws.send(sealer.seal(encodeMessage({ v: PROTOCOL_VERSION, ...m }))); }, closed };
}

/** site-b, honest: a SecureClient that answers every query with one vote. Closed, with the server, when the test ends. */
async function honestSite(server: SecureServer, t: TestContext) {
  const client = clientFor(server, siteB);
  t.after(async () => {
    client.close();
    await server.close();
  });
  client.on('message', (m) => {
    if (m.type === 'query_request') client.send({ type: 'query_reply', requestId: m.requestId, round: m.round, replyKind: 'votes', rows: 1, cols: 1, votes: Int32Array.of(2) });
  });
  await client.start();
  return client;
}

const query = (round: number): Omit<QueryRequest, 'v' | 'requestId'> => ({
  type: 'query_request', round, publicSet: { datasetSpec: 'test:public', hash: 'sha256:00' }, indices: Uint32Array.of(1), replyKind: 'votes', params: {},
});

test('a site flooding small valid messages is closed with E_INBOUND_RATE_EXCEEDED; the other site\'s request is still answered', async (t) => {
  const server = await startServer({ limits: { inboundMessagesPerSecond: 20, inboundBurstMessages: 100 } });
  await honestSite(server, t);
  const floodSession = nextSession(server);
  const flooder = await floodingSite(server);
  const session = await floodSession;
  const sessionClosed = closed(session);
  let delivered = 0;
  session.on('message', () => delivered++);
  for (let i = 0; i < 1000; i++) flooder.send({ type: 'metrics', round: i, values: { loss: 1 } });
  const answered = server.request('site-b', query(0), { timeoutMs: 5000 });
  const { code, reason } = await flooder.closed;
  assert.equal(code, CHANNEL_ERRORS.E_INBOUND_RATE_EXCEEDED.close);
  assert.match(reason, /^E_INBOUND_RATE_EXCEEDED: over inboundMessagesPerSecond 20\/s, burst 100; raise them/);
  assert.ok(delivered >= 100 && delivered < 1000, `the burst was served, the flood was not (${delivered} delivered)`);
  assert.equal((await sessionClosed).errorCode, 'E_INBOUND_RATE_EXCEEDED');
  const reply = await answered;
  assert.equal(reply.type, 'query_reply');
  assert.ok(server.session('site-b')?.isOpen, 'the honest site is still connected');
  assert.deepEqual(server.connectedSites, ['site-b']);
  // reconnecting does not refill site-a's budget: the next session is cut off long before another full burst
  const again = nextSession(server);
  const second = await floodingSite(server);
  let deliveredAgain = 0;
  (await again).on('message', () => deliveredAgain++);
  for (let i = 0; i < 200; i++) second.send({ type: 'metrics', round: i, values: { loss: 1 } });
  assert.equal((await second.closed).code, CHANNEL_ERRORS.E_INBOUND_RATE_EXCEEDED.close);
  assert.ok(deliveredAgain < 100, `budget kept across reconnects (${deliveredAgain} delivered on the second session)`);
});

test('a site flooding large replies is closed by the byte budget before they are decrypted; the other site is unaffected', async (t) => {
  const server = await startServer({ limits: { maxFrameBytes: 1024 * 1024, inboundBytesPerSecond: 256 * 1024, inboundBurstBytes: 2 * 1024 * 1024 } });
  await honestSite(server, t);
  const flooder = await floodingSite(server);
  const soft = new Float32Array(128 * 1024); // 512 KiB per reply
  for (let i = 0; i < 20; i++) flooder.send({ type: 'query_reply', requestId: `forged-${i}`, round: 0, replyKind: 'soft_labels', rows: 1024, cols: 128, soft });
  const { code, reason } = await flooder.closed;
  assert.equal(code, CHANNEL_ERRORS.E_INBOUND_RATE_EXCEEDED.close);
  assert.match(reason, /inboundBytesPerSecond 256 KiB\/s, burst 2 MiB/);
  assert.ok(server.budgetFor('site-a').stats.unsolicited <= 4, 'closed by bytes before the strikes added up');
  assert.equal((await server.request('site-b', query(1), { timeoutMs: 5000 })).type, 'query_reply');
});

test('a site sending replies to requests never made is closed with E_UNSOLICITED_MESSAGES after 16 (the default)', async (t) => {
  const server = await startServer();
  await honestSite(server, t);
  const flooder = await floodingSite(server);
  for (let i = 0; i < 40; i++) flooder.send({ type: 'query_reply', requestId: `forged-${i}`, round: 0, replyKind: 'votes', rows: 1, cols: 1, votes: Int32Array.of(1) });
  const { code, reason } = await flooder.closed;
  assert.equal(code, CHANNEL_ERRORS.E_UNSOLICITED_MESSAGES.close);
  assert.match(reason, /^E_UNSOLICITED_MESSAGES: over maxUnsolicitedMessages 16 \(last: query_reply to no known request\)/);
  assert.equal(server.budgetFor('site-a').stats.unsolicited, 17);
  assert.equal(server.trackerFor('site-a').stats.unmatched, 17);
  assert.equal((await server.request('site-b', query(2), { timeoutMs: 5000 })).type, 'query_reply');
});

test('a legitimate run (real Aggregator, two honest sites, 20 rounds) never trips the budgets: no strike, no reconnect', async () => {
  const h = await startRun({ rounds: 20 });
  const sessions: SecureSession[] = [];
  const closes: (string | undefined)[] = [];
  h.server.on('session', (s) => { sessions.push(s); s.on('close', (i) => closes.push(i.errorCode)); });
  const a = await scriptedSite(h.server, siteA);
  const b = await scriptedSite(h.server, siteB);
  try {
    const summary = await h.finish(20_000);
    assert.equal(summary.status, 'complete');
    assert.equal(summary.rounds.length, 20);
    assert.equal(sessions.length, 2, 'one session per site, never cut off and reconnected');
    assert.deepEqual(closes, []);
    for (const site of ['site-a', 'site-b']) {
      const stats = h.server.budgetFor(site).stats;
      assert.ok(stats.frames >= 41, `${site}: join, 20 replies and 20 metrics went through its budget (${stats.frames})`);
      assert.equal(stats.unsolicited, 0, site);
    }
    for (const c of [a.client, b.client]) assert.equal(c.budget.stats.unsolicited, 0);
  } finally {
    a.client.close(); b.client.close(); await h.close();
  }
});
