// Close codes nobody authenticated do not stop a site: forged close frames on a ws:// path and impostors are retried; announced closes are obeyed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { WebSocketServer } from 'ws';
import type { SessionMessage } from '../../../protocols/messages.ts';
import { SiteClient } from '../../../client/site-client.ts';
import type { SiteAgent } from '../../../client/site-agent.ts';
import { SecureClient } from '../../../shared/channel/secure-client.ts';
import type { SecureSession, SessionCloseInfo } from '../../../shared/channel/secure-session.ts';
import { clientFor, closed, serverIdentity, siteA, sleep, startServer } from './helpers.ts';

/**
 * A TCP relay in front of `port`, standing for an attacker on a ws:// path: `forgeClose` cuts the
 * aggregator off and writes a websocket close frame of its choosing to every site it relays.
 */
async function forgingRelay(port: number) {
  const pairs = new Set<{ down: net.Socket; up: net.Socket; forged: boolean }>();
  const relay = net.createServer((down) => {
    const pair = { down, up: net.connect(port, '127.0.0.1'), forged: false };
    pairs.add(pair);
    down.pipe(pair.up);
    pair.up.pipe(down);
    for (const s of [down, pair.up]) s.on('error', () => {});
    down.on('close', () => { pair.up.destroy(); pairs.delete(pair); });
    pair.up.on('close', () => { if (!pair.forged) down.destroy(); });
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  return {
    url: `ws://127.0.0.1:${(relay.address() as net.AddressInfo).port}`,
    forgeClose(code: number, reason: string): void {
      for (const pair of pairs) {
        pair.forged = true;
        pair.up.unpipe(pair.down);
        pair.up.destroy();
        // server-to-client frames are unmasked: FIN + close opcode, length, code, reason
        const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);
        pair.down.write(Buffer.concat([Buffer.from([0x88, payload.length]), payload]));
        setTimeout(() => pair.down.end(), 50).unref();
      }
    },
    close: () => { for (const p of pairs) p.down.destroy(); relay.close(); },
  };
}

/** A stand-in SiteAgent: SiteClient needs its name, public set and ledger to join and to finish. */
function stubAgent(): SiteAgent {
  return { settings: { name: 'site-a' }, publicSet: { hash: 'sha256:feed' }, ledger: { epsilon: () => 0 }, baselineAccuracy: undefined, lastAccuracy: undefined } as unknown as SiteAgent;
}

const nextClose = (client: SecureClient): Promise<SessionCloseInfo> => new Promise((r) => client.once('disconnect', r));

test('a close frame forged on a ws:// path (4032 E_SESSION_REPLACED, then 1000) does not stop the site: it reconnects each time', async () => {
  const server = await startServer();
  const relay = await forgingRelay(server.port);
  const client = new SecureClient({ url: relay.url, identity: siteA, serverPublicKey: serverIdentity.publicKey, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
  const errors: string[] = [];
  client.on('error', (e) => errors.push(e.code));
  const lastErrors: string[] = [];
  client.on('reconnecting', (i) => lastErrors.push(i.lastError));
  let sessions = 0;
  server.on('session', () => sessions++);
  await client.start();
  for (const [code, reason] of [[4032, 'E_SESSION_REPLACED: forged'], [1000, 'forged bye']] as const) {
    const info = nextClose(client);
    const back = new Promise((r) => client.once('session', r));
    relay.forgeClose(code, reason);
    assert.deepEqual({ ...(await info) }, { code, reason, errorCode: code === 1000 ? undefined : 'E_SESSION_REPLACED', local: false, authenticated: false });
    await back;
  }
  assert.equal(sessions, 3, 'the site came back after each forged close');
  assert.deepEqual(errors, []);
  assert.match(lastErrors[0]!, /closed with code 4032 \(E_SESSION_REPLACED: forged\), not announced inside the session \(unauthenticated\): retrying/);
  client.close();
  relay.close();
  await server.close();
});

test('an impostor at the aggregator\'s address that closes with 4012 E_UNKNOWN_SITE_KEY is retried, not obeyed', async () => {
  const impostor = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => impostor.once('listening', r));
  let connections = 0;
  impostor.on('connection', (ws) => { connections++; ws.close(4012, 'E_UNKNOWN_SITE_KEY: go away'); });
  const client = new SecureClient({ url: `ws://127.0.0.1:${(impostor.address() as net.AddressInfo).port}`, identity: siteA, serverPublicKey: serverIdentity.publicKey, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
  let settled = false;
  client.start().then(() => { settled = true; }, () => { settled = true; });
  await new Promise<void>((r) => client.on('reconnecting', (i) => i.attempt === 3 && r()));
  assert.equal(settled, false, 'start() neither resolved nor gave up');
  assert.ok(connections >= 3);
  client.close();
  impostor.close();
});

test('closes the aggregator announces inside the session are obeyed: E_SESSION_REPLACED stops the site, a polite end (bye, 1000) ends a SiteClient\'s run, E_SERVER_CLOSING does not', async () => {
  const server = await startServer();
  const first = clientFor(server, siteA, { reconnect: { initialDelayMs: 10 } });
  const stopped = new Promise<string>((r) => first.once('error', (e) => r(e.code)));
  const s1 = await first.start();
  const firstClosed = closed(s1);
  const second = clientFor(server, siteA);
  await second.start();
  assert.equal(await stopped, 'E_SESSION_REPLACED');
  assert.equal((await firstClosed).authenticated, true);
  second.close();
  await sleep(50);
  // a site in a run: the aggregator stopping (E_SERVER_CLOSING, announced: a signal or a stalled
  // round, after which it may resume) leaves the site retrying; the run's end (bye, 1000) ends it
  const client = clientFor(server, siteA, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
  const lines: string[] = [];
  const site = new SiteClient(stubAgent(), client, 'test:public', (l) => lines.push(l));
  let finished = false;
  void site.finished.then(() => { finished = true; });
  const joinedOnce = () => new Promise<SecureSession>((resolve) => server.once('session', (s) => s.on('message', (m: SessionMessage) => {
    if (m.type === 'join') { s.send({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5 } }); resolve(s); }
  })));
  const joined = joinedOnce();
  await client.start();
  await joined;
  const port = server.port;
  await server.close();
  for (let t = 0; t < 200 && !lines.some((l) => /^the aggregator is stopping/.test(l)); t++) await sleep(10);
  assert.ok(lines.some((l) => /^the aggregator is stopping \(.*\); it may resume the run: the site keeps retrying/.test(l)), lines.join('\n'));
  await sleep(100);
  assert.equal(finished, false, 'an aggregator that is stopping does not end the site\'s run');
  // the aggregator comes back on the same port: the site joins again, and the run's end finishes it
  const again = await startServer({ port });
  const back = await new Promise<SecureSession>((resolve) => again.once('session', (s) => s.on('message', (m: SessionMessage) => {
    if (m.type === 'join') { s.send({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5 } }); resolve(s); }
  })));
  const t0 = Date.now();
  back.close(1000, 'run run-1 ended: budget_exhausted');
  const result = await site.finished;
  assert.equal(result.runId, 'run-1');
  // promptly: not after a reconnect backoff or a request timeout (loose, the machine is shared)
  assert.ok(Date.now() - t0 < 5000, `the site finished ${Date.now() - t0} ms after the run ended`);
  // sessions closed before the run ended still count their bytes, and the site says why it stopped
  assert.ok(result.bytesSent > 0 && result.bytesReceived > 0, JSON.stringify(result));
  assert.ok(lines.some((l) => /^the aggregator ended the run: run run-1 ended: budget_exhausted/.test(l)), lines.join('\n'));
  await again.close();
});

test('a SiteClient does not end its run on a forged 4033 E_SERVER_CLOSING: it logs the unauthenticated close and joins again', async () => {
  const server = await startServer();
  const relay = await forgingRelay(server.port);
  const client = new SecureClient({ url: relay.url, identity: siteA, serverPublicKey: serverIdentity.publicKey, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
  const logs: string[] = [];
  const site = new SiteClient(stubAgent(), client, 'test:public', (l) => logs.push(l));
  let finished = false;
  site.finished.then(() => { finished = true; }, () => { finished = true; });
  let joins = 0;
  let joinedAgain: () => void = () => {};
  const again = new Promise<void>((r) => { joinedAgain = r; });
  server.on('session', (s) => s.on('message', (m: SessionMessage) => {
    if (m.type !== 'join') return;
    s.send({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5 } });
    if (++joins === 2) joinedAgain();
  }));
  await client.start();
  await sleep(50);
  relay.forgeClose(4033, 'E_SERVER_CLOSING: forged');
  await again;
  assert.equal(finished, false);
  assert.ok(logs.some((l) => /^disconnected \(closed by the peer, unauthenticated close code; the site keeps retrying\): 4033 E_SERVER_CLOSING: forged$/.test(l)), logs.join('\n'));
  client.close();
  relay.close();
  await server.close();
});

test('a join left unanswered (its connection cut, or the aggregator busy) is asked again on a new session, not fatal', async () => {
  const server = await startServer();
  const client = clientFor(server, siteA, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, limits: { requestTimeoutMs: 300 } });
  const lines: string[] = [];
  const site = new SiteClient(stubAgent(), client, 'test:public', (l) => lines.push(l));
  let failed: Error | undefined;
  site.finished.catch((e: Error) => { failed = e; });
  let joins = 0;
  const answered = new Promise<SecureSession>((resolve) => server.on('session', (s) => s.on('message', (m: SessionMessage) => {
    if (m.type !== 'join') return;
    // the first join gets no answer at all: the site's request times out on a live session
    if (++joins === 1) return;
    s.send({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5 } });
    resolve(s);
  })));
  await client.start();
  const s2 = await answered;
  await sleep(50);
  assert.equal(failed, undefined, `the site gave up: ${failed?.message}`);
  assert.ok(lines.some((l) => /^join got no answer \(E_REQUEST_TIMEOUT\); reconnecting/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => l === 'joined run run-1'), lines.join('\n'));
  s2.close(1000, 'run run-1 ended: complete');
  assert.equal((await site.finished).runId, 'run-1');
  await server.close();
});
