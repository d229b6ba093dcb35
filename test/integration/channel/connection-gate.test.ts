// Before the websocket upgrade, on real loopback sockets: open connections are capped per address and in all, and the upgrade has an absolute deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { SecureServer } from '../../../shared/channel/secure-server.ts';
import { clientFor, siteA, sleep, startServer } from './helpers.ts';

/** A TCP connection from `localAddress`; resolves once connected, with when it closed (ms after connecting). */
function tcpFrom(server: SecureServer, localAddress: string): Promise<{ socket: net.Socket; closedAfter: Promise<number> }> {
  const socket = net.connect({ port: server.port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('connect', () => {
    const t0 = Date.now();
    resolve({ socket, closedAfter: new Promise((r) => socket.once('close', () => r(Date.now() - t0))) });
  }));
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(what)), ms))]);

/** Polls until `cond` holds (the server's side of a socket event may land after the client's), or fails after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(what);
    await sleep(10);
  }
}

test('a connection dribbling its HTTP request a byte at a time is cut at the upgrade deadline (handshakeTimeoutMs), whatever it sends', async () => {
  const server = await startServer({ limits: { handshakeTimeoutMs: 500 } });
  const { socket, closedAfter } = await tcpFrom(server, '127.0.0.1');
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: ${'a'.repeat(200)}`);
  let sent = 0;
  const drip = setInterval(() => { if (!socket.destroyed) socket.write(request.subarray(sent, ++sent)); }, 100);
  try {
    const ms = await within(closedAfter, 3000, 'the dribbling connection was still open after 3 s');
    // cut by the deadline (500 ms), not by the 10 s default, and not before it
    assert.ok(ms >= 400 && ms < 2900, `cut after ${ms} ms`);
    assert.equal(server.stats.refused.E_HANDSHAKE_TIMEOUT, 1);
    await until(() => server.openConnections() === 0, 2000, 'a closed connection was not counted down');
  } finally {
    clearInterval(drip);
    await server.close();
  }
});

test('open connections per address are capped from accept on; another address still gets in, and a slot frees when one closes', async () => {
  const server = await startServer({ limits: { maxConnectionsPerAddress: 4, handshakeTimeoutMs: 5000 } });
  const held = await Promise.all(Array.from({ length: 4 }, () => tcpFrom(server, '127.0.0.2')));
  await until(() => server.openConnections('127.0.0.2') === 4, 2000, `the server counted ${server.openConnections('127.0.0.2')} of 4 connections`);
  const fifth = await tcpFrom(server, '127.0.0.2');
  await within(fifth.closedAfter, 500, 'the fifth connection from one address was not closed at once');
  assert.equal(server.stats.refused.E_TOO_MANY_CONNECTIONS, 1);
  // a site from 127.0.0.1 connects meanwhile, and its session is not cut by the upgrade deadline
  const good = clientFor(server, siteA);
  await good.start();
  assert.equal(server.openConnections(), 5);
  // one of the four goes: the address may open one more, which stays open
  held[0]!.socket.destroy();
  await until(() => server.openConnections('127.0.0.2') === 3, 2000, 'the closed connection was not counted down');
  const replacement = await tcpFrom(server, '127.0.0.2');
  let cut = false;
  void replacement.closedAfter.then(() => { cut = true; });
  await sleep(100);
  assert.equal(cut, false);
  assert.equal(server.openConnections('127.0.0.2'), 4);
  good.close();
  for (const h of [...held, replacement]) h.socket.destroy();
  await server.close();
});

test('open connections over all addresses are capped (maxConnections); an upgraded session outlives the upgrade deadline', async () => {
  const server = await startServer({ limits: { maxConnections: 3, handshakeTimeoutMs: 300 } });
  const good = clientFor(server, siteA);
  const session = await good.start();
  const held = await Promise.all(['127.0.0.2', '127.0.0.3'].map((a) => tcpFrom(server, a)));
  const fourth = await tcpFrom(server, '127.0.0.4');
  await within(fourth.closedAfter, 500, 'the connection over maxConnections was not closed at once');
  assert.equal(server.stats.refused.E_TOO_MANY_CONNECTIONS, 1);
  // the two idle ones are cut at the deadline; the site's session is not
  await within(Promise.all(held.map((h) => h.closedAfter)), 2000, 'idle connections outlived the upgrade deadline');
  await sleep(200);
  assert.ok(session.isOpen, 'the upgraded session is still open after the deadline');
  await until(() => server.openConnections() === 1, 2000, `${server.openConnections()} connections open; only the session should be`);
  good.close();
  await server.close();
});
