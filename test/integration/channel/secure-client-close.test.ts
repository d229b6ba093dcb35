// SecureClient.close() before the first session: start() settles (E_NOT_CONNECTED) instead of hanging its caller, and so does a SiteClient's `finished`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientFor, siteA, startServer, stranger } from './helpers.ts';
import { SiteClient } from '../../../client/site-client.ts';
import type { SiteAgent } from '../../../client/site-agent.ts';
import type { SessionMessage } from '../../../protocols/messages.ts';

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

/** A stand-in SiteAgent: SiteClient needs its name, public set and ledger to join and to finish. */
const stubAgent = (): SiteAgent => ({ settings: { name: 'site-a' }, publicSet: { hash: 'sha256:feed' }, ledger: { epsilon: () => 0 }, baselineAccuracy: undefined, lastAccuracy: undefined }) as unknown as SiteAgent;

test('a SiteClient closed before its run ended rejects `finished` (E_NOT_CONNECTED), whether or not a session was open', async () => {
  const server = await startServer();
  server.on('session', (s) => s.on('message', (m: SessionMessage) => {
    if (m.type === 'join') s.send({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5 } });
  }));
  try {
    // joined, mid-run
    const joined = clientFor(server, siteA, { reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
    const site = new SiteClient(stubAgent(), joined, 'test:public');
    await joined.start();
    await new Promise((r) => setTimeout(r, 50));
    joined.close('site stopping (signal)');
    await assert.rejects(within(site.finished, 1000), (e: Error & { code?: string }) => e.code === 'E_NOT_CONNECTED' && /stopped \(site stopping \(signal\)\) before the run ended/.test(e.message));
    // refused, waiting to reconnect: no session open when it is closed
    const refused = clientFor(server, stranger, { reconnect: { initialDelayMs: 10_000, maxDelayMs: 10_000, jitter: 0 } });
    const waiting = clientWaiting(refused);
    const other = new SiteClient(stubAgent(), refused, 'test:public');
    refused.start().catch(() => {});
    await waiting;
    refused.close('site stopping (signal)');
    await assert.rejects(within(other.finished, 1000), { code: 'E_NOT_CONNECTED' });
  } finally {
    await server.close();
  }
});

const clientWaiting = (c: ReturnType<typeof clientFor>): Promise<void> => new Promise((resolve) => c.once('reconnecting', () => resolve()));
