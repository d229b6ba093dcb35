// A site that stops reading its socket (but keeps pinging) is closed with E_PEER_NOT_READING; what is queued for it stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CHANNEL_ERRORS } from '../../../protocols/error-catalogue.ts';
import { encodeMessage } from '../../../protocols/codec.ts';
import type { Consensus } from '../../../protocols/messages.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { FrameSealer } from '../../../shared/crypto/frame-cipher.ts';
import { runClientHandshake } from '../../../shared/channel/handshake-driver.ts';
import { WsTransport } from '../../../shared/channel/ws-transport.ts';
import type { SecureServer } from '../../../shared/channel/secure-server.ts';
import type { SessionCloseInfo } from '../../../shared/channel/secure-session.ts';
import type { FedistillError } from '../../../shared/util/errors.ts';
import { clientFor, closed, nextSession, serverIdentity, siteA, siteB, sleep, startServer } from './helpers.ts';

/**
 * site-a, authenticated, whose socket is paused right after the handshake: it reads nothing more,
 * but writes a heartbeat ping every 100 ms, so the aggregator's idle timeout never fires.
 */
async function stalledSite(server: SecureServer): Promise<{ stop: () => void }> {
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  ws.on('error', () => {});
  await new Promise((r) => ws.once('open', r));
  const result = await runClientHandshake(new WsTransport(ws, server.url), { identity: siteA, serverPublicKey: serverIdentity.publicKey, timeoutMs: 2000 });
  ws.pause();
  const sealer = new FrameSealer(result.keys.clientToServer);
  let seq = 0;
  const pinger = setInterval(() => {
    if (ws.readyState === ws.OPEN) ws.send(sealer.seal(encodeMessage({ v: PROTOCOL_VERSION, type: 'heartbeat', kind: 'ping', seq: seq++ })));
  }, 100);
  return { stop: () => { clearInterval(pinger); ws.terminate(); } };
}

const CAP = 4 * 1024 * 1024;
const ROWS = 64 * 1024; // 512 KiB of indices and labels per consensus

function consensus(round: number): Omit<Consensus, 'v'> {
  return { type: 'consensus', round, indices: new Uint32Array(ROWS), rows: ROWS, cols: 1, labels: new Int32Array(ROWS) };
}

test('a site that stops reading is closed with E_PEER_NOT_READING once its unread bytes pass maxSendBufferBytes; the other site keeps being served', async () => {
  // idle timeout 1 s: only the stalled site's pings keep its session open; the cap, not the timeout, must close it
  const server = await startServer({ limits: { maxFrameBytes: 1024 * 1024, maxSendBufferBytes: CAP, idleTimeoutMs: 1000 } });
  const honest = clientFor(server, siteB, { limits: { heartbeatIntervalMs: 200, idleTimeoutMs: 5000 } });
  let honestReceived = 0;
  honest.on('message', (m) => {
    if (m.type === 'consensus') honestReceived++;
    if (m.type === 'query_request') honest.send({ type: 'query_reply', requestId: m.requestId, round: m.round, replyKind: 'votes', rows: 1, cols: 1, votes: Int32Array.of(2) });
  });
  await honest.start();
  const accepted = nextSession(server);
  const stalled = await stalledSite(server);
  const session = await accepted;
  const sessionClosed: Promise<SessionCloseInfo> = closed(session);
  try {
    // the aggregator sends each site a consensus every 20 ms, as rounds would, for up to 10 s
    let peakQueued = 0;
    let sentToStalled = 0;
    let sentToHonest = 0;
    let failure: FedistillError | undefined;
    const started = Date.now();
    for (let round = 0; Date.now() - started < 10_000 && !failure; round++) {
      try {
        session.send(consensus(round));
        sentToStalled++;
        peakQueued = Math.max(peakQueued, session.bufferedBytes);
      } catch (e) {
        failure = e as FedistillError;
      }
      server.session('site-b')!.send(consensus(round));
      sentToHonest++;
      await sleep(20);
    }
    const elapsed = Date.now() - started;
    assert.equal(failure?.code, 'E_SESSION_CLOSED', `the stalled site was never closed in ${elapsed} ms (${sentToStalled} consensus sent to it, ${session.bufferedBytes} bytes queued)`);
    assert.match(failure!.message, /E_PEER_NOT_READING: .* unread, .* more would pass maxSendBufferBytes 4 MiB; raise it if the link is slow$/);
    const info = await sessionClosed;
    assert.equal(info.code, CHANNEL_ERRORS.E_PEER_NOT_READING.close);
    assert.equal(info.errorCode, 'E_PEER_NOT_READING');
    // bounded: never more than the cap queued in the aggregator's process; the rest sat in the kernel's socket buffers
    assert.ok(peakQueued <= CAP, `at most ${CAP} bytes queued (peak ${peakQueued})`);
    // the connection is cut soon after (250 ms), releasing what was queued
    const cutBy = Date.now() + 2000;
    while (server.openConnections() > 1 && Date.now() < cutBy) await sleep(20);
    assert.equal(server.openConnections(), 1, 'only the honest site\'s connection is left');
    // the other site got every consensus and still answers
    const waitUntil = Date.now() + 5000;
    while (honestReceived < sentToHonest && Date.now() < waitUntil) await sleep(20);
    assert.equal(honestReceived, sentToHonest);
    const reply = await server.request('site-b', { type: 'query_request', round: 0, publicSet: { datasetSpec: 'test:public', hash: 'sha256:00' }, indices: Uint32Array.of(1), replyKind: 'votes', params: {} }, { timeoutMs: 5000 });
    assert.equal(reply.type, 'query_reply');
    assert.deepEqual(server.connectedSites, ['site-b']);
    console.log(JSON.stringify({ send_buffer_cap: { cap_bytes: CAP, consensus_bytes: 2 * 4 * ROWS, sent_before_close: sentToStalled, bytes_sent_before_close: session.stats.bytesOut, peak_queued_bytes: peakQueued, ms_to_close: elapsed } }));
  } finally {
    stalled.stop();
    honest.close();
    await server.close();
  }
});
