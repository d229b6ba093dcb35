// A hostile endpoint at the aggregator's URL streaming large frames: the site reads about PRE_AUTH_MAX_BYTES, fails the attempt clearly, and retries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { SecureClient } from '../../../shared/channel/secure-client.ts';
import { PRE_AUTH_MAX_BYTES } from '../../../shared/channel/pre-auth-guard.ts';
import type { ChannelError } from '../../../protocols/error-catalogue.ts';
import { serverIdentity, siteA, startServer, clientFor } from './helpers.ts';

/** A plain `ws` server that, to whoever connects, writes 4 MiB binary frames as fast as it can, for 3 s. */
async function floodingEndpoint(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  let connections = 0;
  const frame = Buffer.alloc(4 * 1024 * 1024, 7);
  wss.on('connection', (ws: WebSocket) => {
    connections++;
    ws.on('error', () => {});
    const started = Date.now();
    const pump = (): void => {
      while (ws.readyState === ws.OPEN && ws.bufferedAmount < 16 * 1024 * 1024) ws.send(frame);
      if (ws.readyState === ws.OPEN && Date.now() - started < 3000) setTimeout(pump, 5);
    };
    pump();
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    connections: () => connections,
    close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }),
  };
}

/** Every client TCP socket this process opens while `run` runs: what the site itself read from the network. */
async function watchingClientSockets<T>(run: (sockets: Socket[]) => Promise<T>): Promise<T> {
  const sockets: Socket[] = [];
  const onSocket = (m: unknown): void => { sockets.push((m as { socket: Socket }).socket); };
  subscribe('net.client.socket', onSocket);
  try {
    return await run(sockets);
  } finally {
    unsubscribe('net.client.socket', onSocket);
  }
}

test('a site stops reading an endpoint that sends more than PRE_AUTH_MAX_BYTES before proving the pinned key, and its reconnect policy goes on', async () => {
  const hostile = await floodingEndpoint();
  try {
    await watchingClientSockets(async (sockets) => {
      const client = new SecureClient({ url: hostile.url, identity: siteA, serverPublicKey: serverIdentity.publicKey, reconnect: { initialDelayMs: 20, maxDelayMs: 40, maxAttempts: 2 } });
      const retries: string[] = [];
      client.on('reconnecting', (i) => retries.push(i.lastError));
      const started = Date.now();
      await assert.rejects(client.start(), (e: ChannelError) => {
        assert.equal(e.code, 'E_FRAME_TOO_LARGE');
        assert.match(e.message, new RegExp(`^ws://127\\.0\\.0\\.1:\\d+ sent \\d+ bytes before the handshake completed; at most ${PRE_AUTH_MAX_BYTES} \\(PRE_AUTH_MAX_BYTES\\) without proving the pinned key`));
        return true;
      });
      const elapsed = Date.now() - started;
      // each attempt failed at once (not after the 10 s handshake timeout), with the same clear error, and was retried
      assert.equal(retries.length, 2);
      for (const r of retries) assert.match(r, /^E_FRAME_TOO_LARGE: .* before the handshake completed/);
      assert.equal(hostile.connections(), 3);
      assert.ok(elapsed < 2000, `three attempts took ${elapsed} ms`);
      // let the closing sockets go (each is cut within ws's close grace) before reading what they read
      const until = Date.now() + 3000;
      while (sockets.some((s) => !s.destroyed) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(sockets.length, 3);
      const read = sockets.map((s) => s.bytesRead);
      // before the guard the site read each 4 MiB frame whole (and ~16 MiB more while closing)
      for (const n of read) assert.ok(n < 256 * 1024, `the site read ${n} bytes on one connection`);
      console.log(JSON.stringify({ site_preauth: { bytes_read_per_attempt: read, attempts: 3, ms: elapsed } }));
    });
  } finally {
    await hostile.close();
  }
});

test('the guard ends when the aggregator proves its key: a session frame sent right behind the handshake still arrives', async () => {
  const server = await startServer();
  // the aggregator answers every new session at once with a large message, which may share a TCP read with its finished message
  server.on('session', (s) => s.send({ type: 'consensus', round: 0, indices: new Uint32Array(64 * 1024), rows: 64 * 1024, cols: 1, labels: new Int32Array(64 * 1024) }));
  const client = clientFor(server, siteA);
  const got = new Promise<number>((r) => client.on('message', (m) => { if (m.type === 'consensus') r(m.rows); }));
  try {
    await client.start();
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the consensus sent right behind the handshake never arrived')), 5000).unref());
    assert.equal(await Promise.race([got, timeout]), 64 * 1024);
    assert.ok(client.session?.isOpen);
  } finally {
    client.close();
    await server.close();
  }
});
