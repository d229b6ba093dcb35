// Real websockets on loopback: handshake, authentication refusals, requests and replies, reconnects, TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHANNEL_ERRORS } from '../../../protocols/error-catalogue.ts';
import type { QueryReply, QueryRequest, SessionMessage } from '../../../protocols/messages.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';
import { SecureClient } from '../../../shared/channel/secure-client.ts';
import { allowlist, clientFor, closed, nextSession, serverIdentity, siteA, siteB, sleep, startServer, stranger } from './helpers.ts';

const query = (n: number): Omit<QueryRequest, 'v' | 'requestId'> => ({
  type: 'query_request', round: 1, publicSet: { datasetSpec: 'mnist:test', hash: 'sha256:abc' }, indices: Uint32Array.from({ length: n }, (_, i) => i), replyKind: 'soft_labels', params: { temperature: 2 },
});

function answer(req: QueryRequest): Omit<QueryReply, 'v'> {
  return { type: 'query_reply', requestId: req.requestId, round: req.round, replyKind: 'soft_labels', rows: req.indices.length, cols: 10, soft: new Float32Array(req.indices.length * 10).fill(0.1) };
}

test('handshake succeeds and both sides know who they talk to; messages and requests flow', async () => {
  const server = await startServer();
  const accepted = nextSession(server);
  const client = clientFor(server, siteA);
  const session = await client.start();
  const serverSide = await accepted;
  assert.equal(session.siteName, 'site-a');
  assert.equal(serverSide.siteName, 'site-a');
  assert.deepEqual(serverSide.peerPublicKey, siteA.publicKey);
  client.on('message', (m) => {
    if (m.type === 'query_request') client.send(answer(m));
  });
  const reply = await server.request('site-a', query(5));
  assert.equal(reply.type, 'query_reply');
  assert.equal((reply as QueryReply).soft!.length, 50);
  const got = new Promise<SessionMessage>((r) => serverSide.once('message', r));
  client.send({ type: 'metrics', round: 1, values: { accuracy: 0.9 } });
  assert.deepEqual((await got as { values: unknown }).values, { accuracy: 0.9 });
  client.close();
  await server.close();
});

test('a site that pinned another aggregator key refuses it (E_SERVER_KEY_MISMATCH)', async () => {
  const server = await startServer();
  const client = new SecureClient({ url: server.url, identity: siteA, serverPublicKey: generateIdentity().publicKey, reconnect: false });
  await assert.rejects(client.start(), { code: 'E_SERVER_KEY_MISMATCH' });
  await server.close();
});

test('an unknown site key is refused with E_UNKNOWN_SITE_KEY and its close code; a reconnecting site retries it (the close code is not authenticated)', async () => {
  const server = await startServer();
  const refused = new Promise<{ code: string }>((r) => server.once('refused', r));
  await assert.rejects(clientFor(server, stranger).start(), (e: { code: string }) => e.code === 'E_UNKNOWN_SITE_KEY');
  assert.equal((await refused).code, 'E_UNKNOWN_SITE_KEY');
  assert.equal(CHANNEL_ERRORS.E_UNKNOWN_SITE_KEY.close, 4012);
  const retrying = clientFor(server, stranger, { reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
  const errors: string[] = [];
  retrying.on('error', (e) => errors.push(e.code));
  const lastErrors: string[] = [];
  const twice = new Promise<void>((r) => retrying.on('reconnecting', (i) => { lastErrors.push(i.lastError); if (lastErrors.length === 2) r(); }));
  retrying.start().catch(() => {});
  await twice;
  retrying.close();
  assert.match(lastErrors[0]!, /^E_UNKNOWN_SITE_KEY: peer closed the connection during the handshake with code 4012 .*not authenticated; retrying$/);
  assert.deepEqual(errors, []);
  await server.close();
});

test('a second session for the same site key replaces the first (E_SESSION_REPLACED)', async () => {
  const server = await startServer();
  const first = clientFor(server, siteA);
  const s1 = await first.start();
  const firstClosed = closed(s1);
  const second = clientFor(server, siteA);
  await second.start();
  const info = await firstClosed;
  assert.equal(info.code, CHANNEL_ERRORS.E_SESSION_REPLACED.close);
  assert.equal(info.errorCode, 'E_SESSION_REPLACED');
  assert.equal(info.authenticated, true, 'the aggregator announced it inside the session');
  assert.deepEqual(server.connectedSites, ['site-a']);
  assert.equal(server.stats.replaced, 1);
  second.close();
  await server.close();
});

test('site reconnects with backoff after a cut; a reply sent twice across the reconnect counts once', async () => {
  const server = await startServer();
  const client = clientFor(server, siteA, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
  const reconnecting: number[] = [];
  client.on('reconnecting', (i) => reconnecting.push(i.delayMs));
  await client.start();
  const pendingReply = server.request('site-a', query(3), { timeoutMs: 5000 });
  const req = await new Promise<QueryRequest>((r) => client.once('message', (m) => m.type === 'query_request' && r(m)));
  client.send(answer(req)); // first copy, on the old session: it arrives and settles the request
  const reply = await pendingReply;
  assert.equal(reply.requestId, req.requestId);
  const reconnected = new Promise((r) => client.once('session', r));
  server.session('site-a')!.close(4033, 'E_SERVER_CLOSING: test cut'); // the connection drops before the site learns its reply landed
  await reconnected;
  assert.equal(reconnecting.length, 1);
  assert.ok(reconnecting[0]! <= 20 && reconnecting[0]! >= 10, `jittered delay ${reconnecting[0]}`);
  const stats = server.trackerFor('site-a').stats;
  const dupSeen = new Promise<void>((r) => { const t = setInterval(() => { if (stats.duplicates > 0) { clearInterval(t); r(); } }, 5); });
  let leaked = false;
  server.session('site-a')!.on('message', () => { leaked = true; });
  client.send(answer(req)); // so it sends the reply again on the new session
  await dupSeen;
  assert.equal(stats.resolved, 1);
  assert.equal(stats.duplicates, 1);
  assert.equal(leaked, false, 'a duplicate reply is not delivered as a message');
  // a request whose reply is lost with the old session is settled by the reply sent on the next one
  const second = server.request('site-a', query(2), { timeoutMs: 5000 });
  const req2 = await new Promise<QueryRequest>((r) => client.once('message', (m) => m.type === 'query_request' && r(m)));
  const again = new Promise((r) => client.once('session', r));
  server.session('site-a')!.close(4033, 'E_SERVER_CLOSING: test cut');
  await again;
  client.send(answer(req2));
  assert.equal((await second).requestId, req2.requestId);
  client.close();
  await server.close();
});

test('requests over the in-flight limit are refused locally; requests time out with E_REQUEST_TIMEOUT', async () => {
  const server = await startServer({ limits: { maxInFlight: 2 } });
  const client = clientFor(server, siteA);
  await client.start();
  await sleep(20);
  const a = server.request('site-a', query(1), { timeoutMs: 100 });
  const b = server.request('site-a', query(1), { timeoutMs: 100 });
  await assert.rejects(server.request('site-a', query(1)), { code: 'E_TOO_MANY_IN_FLIGHT' });
  await assert.rejects(a, { code: 'E_REQUEST_TIMEOUT' });
  await assert.rejects(b, { code: 'E_REQUEST_TIMEOUT' });
  client.close();
  await server.close();
});

test('the same sessions run over the in-memory transport', async () => {
  const server = await startServer({ port: undefined });
  const client = new SecureClient({ connect: () => server.connectInMemory(), identity: siteB, serverPublicKey: serverIdentity.publicKey, reconnect: false });
  client.on('message', (m) => m.type === 'query_request' && client.send(answer(m)));
  const session = await client.start();
  assert.equal(session.siteName, 'site-b');
  const reply = await server.request('site-b', query(2));
  assert.equal((reply as QueryReply).rows, 2);
  client.close();
  await server.close();
  assert.equal(allowlist.size, 2);
});

test('wss:// with a certificate, in addition to the channel encryption', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const server = await startServer({ tls: { certFile: cert, keyFile: key }, limits: { handshakeTimeoutMs: 800 } });
  assert.match(server.url, /^wss:\/\//);
  const client = clientFor(server, siteA, { tls: { caFile: cert } });
  const s = await client.start();
  assert.equal(s.siteName, 'site-a');
  // the upgrade deadline (from TCP accept) was cleared through the TLS socket: the session outlives it
  await sleep(1000);
  assert.ok(s.isOpen);
  client.close();
  const untrusting = clientFor(server, siteA);
  await assert.rejects(untrusting.start(), { code: 'E_NOT_CONNECTED' });
  await server.close();
});

test('handshake works when one side uses the tweetnacl primitives and the other node:crypto', async () => {
  const server = await startServer({ primitives: 'tweetnacl' });
  const s = await clientFor(server, siteA, { primitives: 'node' }).start();
  assert.equal(s.siteName, 'site-a');
  s.close();
  await server.close();
});

void siteB;
