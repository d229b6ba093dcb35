// An authenticated site sends a message built to be slow to decode: only its session closes (4006), others keep being answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CHANNEL_ERRORS } from '../../../protocols/error-catalogue.ts';
import { messageSizeLimit } from '../../../protocols/limits.ts';
import { FrameSealer } from '../../../shared/crypto/frame-cipher.ts';
import { runClientHandshake } from '../../../shared/channel/handshake-driver.ts';
import { WsTransport } from '../../../shared/channel/ws-transport.ts';
import type { SessionCloseInfo } from '../../../shared/channel/secure-session.ts';
import { clientFor, nextSession, serverIdentity, siteA, siteB, startServer } from './helpers.ts';

/** `{type: "query_reply", junk: [{}, {}, ...]}`: 300,000 empty maps in 300 KB, well inside query_reply's size limit. */
function manyTinyMaps(count: number): Uint8Array {
  const head = [0x82, 0xa4, ...Buffer.from('type'), 0xab, ...Buffer.from('query_reply'), 0xa4, ...Buffer.from('junk'),
    0xdd, (count >>> 24) & 255, (count >>> 16) & 255, (count >>> 8) & 255, count & 255];
  const bytes = new Uint8Array(head.length + count).fill(0x80);
  bytes.set(head);
  return bytes;
}

test('a hostile message of many tiny maps closes only its sender (E_MSG_TOO_COMPLEX); another site is still answered', async () => {
  const server = await startServer();
  const good = clientFor(server, siteB);
  good.on('message', (m) => m.type === 'query_request' && good.send({ type: 'query_reply', requestId: m.requestId, round: m.round, replyKind: 'votes', rows: 1, cols: 1, votes: new Int32Array([4]) }));
  await good.start();

  // site A is allowlisted and authenticates, then writes frames by hand
  const accepted = nextSession(server);
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  const wsClosed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r) => ws.once('open', r));
  const hs = await runClientHandshake(new WsTransport(ws, server.url), { identity: siteA, serverPublicKey: serverIdentity.publicKey, timeoutMs: 2000 });
  const hostileSession = await accepted;
  assert.equal(hostileSession.siteName, 'site-a');
  const sessionClosed = new Promise<SessionCloseInfo>((r) => hostileSession.once('close', r));

  const payload = manyTinyMaps(300_000);
  assert.ok(payload.length < messageSizeLimit('query_reply', server.limits));
  ws.send(new FrameSealer(hs.keys.clientToServer).seal(payload));
  const answer = server.request('site-b', { type: 'query_request', round: 2, publicSet: { datasetSpec: 'd', hash: 'h' }, indices: new Uint32Array([7]), replyKind: 'votes', params: {} });

  assert.equal(await wsClosed, CHANNEL_ERRORS.E_MSG_TOO_COMPLEX.close);
  const info = await sessionClosed;
  assert.equal(info.errorCode, 'E_MSG_TOO_COMPLEX');
  assert.equal(info.local, true);
  const reply = await answer;
  assert.equal(reply.type, 'query_reply');
  assert.deepEqual(server.connectedSites, ['site-b']);
  assert.equal(server.session('site-b')?.isOpen, true);
  good.close();
  await server.close();
});
