// SecureClient.close() before the first session: start() settles (E_NOT_CONNECTED) instead of hanging its caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientFor, siteA, startServer, stranger } from './helpers.ts';

/** Rejects if `p` has not settled within `ms`: the bug this guards against is a promise that never settles. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer!: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test('close() while the client waits to reconnect rejects start() with E_NOT_CONNECTED', async () => {
  const server = await startServer();
  try {
    // not on the allowlist: refused, then a long wait before the next try
    const client = clientFor(server, stranger, { reconnect: { initialDelayMs: 10_000, maxDelayMs: 10_000, jitter: 0 } });
    const waiting = new Promise<void>((resolve) => client.once('reconnecting', () => resolve()));
    const started = client.start();
    started.catch(() => {});
    await waiting;
    client.close('site stopping (signal)');
    await assert.rejects(within(started, 1000), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_NOT_CONNECTED');
      assert.match(e.message, /closed \(site stopping \(signal\)\) before it reached the aggregator/);
      return true;
    });
  } finally {
    await server.close();
  }
});

test('close() during the first connection attempt rejects start() too, and no session opens afterwards', async () => {
  const server = await startServer();
  try {
    const client = clientFor(server, siteA, { reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
    let sessions = 0;
    client.on('session', () => sessions++);
    const started = client.start();
    started.catch(() => {});
    client.close();
    await assert.rejects(within(started, 1000), { code: 'E_NOT_CONNECTED' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(sessions, 0);
  } finally {
    await server.close();
  }
});
