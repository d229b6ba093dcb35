// The site client's inbound paths from the aggregator, on loopback: replayed request ids and consensus that does not fit the public set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ErrorMessage, QueryRequest, SessionMessage } from '../../../protocols/messages.ts';
import { SiteClient } from '../../../client/site-client.ts';
import { ChannelError } from '../../../protocols/error-catalogue.ts';
import type { SiteAgent } from '../../../client/site-agent.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import type { SecureSession } from '../../../shared/channel/secure-session.ts';
import { clientFor, nextSession, siteA, sleep, startServer } from './helpers.ts';

const PUBLIC = { spec: 'test:public', hash: 'sha256:feed', length: 20, numClasses: 3 };

/** A stand-in for SiteAgent that counts releases and records each in a real (in-memory) ledger. */
function stubAgent() {
  const ledger = new SiteLedger();
  const calls = { answer: 0, digest: 0 };
  const agent = {
    settings: { name: 'site-a' }, publicSet: PUBLIC, ledger, baselineAccuracy: undefined, lastAccuracy: undefined,
    async answer(q: { runId: string; round: number; requestId: string; indices: Uint32Array; replyKind: string }) {
      calls.answer++;
      const rows = q.indices.length;
      const event = { type: 'gaussian' as const, noise_multiplier: 1, count: rows };
      ledger.record({ runId: q.runId, round: q.round, requestId: q.requestId, replyKind: q.replyKind, rows, event });
      return { rows, cols: 3, teachers: 1, votes: new Int32Array(rows * 3).fill(0), event };
    },
    async digest() { calls.digest++; return { accuracy: 0.5 }; },
  };
  return { agent: agent as unknown as SiteAgent, calls, ledger };
}

/** A bare aggregator end: welcomes the join, then lets the test write messages by hand. */
async function connectedSite() {
  const server = await startServer();
  const accepted = nextSession(server);
  const { agent, calls, ledger } = stubAgent();
  const client = clientFor(server, siteA);
  const logs: string[] = [];
  const site = new SiteClient(agent, client, PUBLIC.spec, (line) => logs.push(line));
  site.finished.catch(() => {});
  const welcomed = new Promise<SecureSession>((resolve) => {
    void accepted.then((s) => s.on('message', (m: SessionMessage) => {
      if (m.type === 'join') { s.send({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5, privacy: { sigma1: 1, sigma2: 1, threshold: 0 } } }); resolve(s); }
    }));
  });
  await client.start();
  const session = await welcomed;
  const errors: ErrorMessage[] = [];
  session.on('message', (m) => m.type === 'error' && errors.push(m));
  return { server, client, session, calls, ledger, errors, logs };
}

const query = (indices: number[]): Omit<QueryRequest, 'v'> => ({
  type: 'query_request', requestId: 'run-1.r0.site-a', round: 0, publicSet: { datasetSpec: PUBLIC.spec, hash: PUBLIC.hash }, indices: Uint32Array.from(indices), replyKind: 'vote_histogram', params: {},
});

async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await sleep(10);
  assert.ok(ok(), what);
}

test('a repeated request id is re-sent the same reply without a second release; another query under it is refused (E_QUERY_REPLAYED)', async () => {
  const { server, client, session, calls, ledger, errors } = await connectedSite();
  const tracker = server.trackerFor('site-a');
  session.send(query([1, 2]));
  await until(() => tracker.stats.unmatched === 1, 'the first reply arrived');
  session.send(query([1, 2]));
  await until(() => tracker.stats.unmatched === 2, 'the repeated query was answered');
  session.send(query([3, 4, 5]));
  await until(() => errors.length === 1, 'the changed query was refused');
  assert.equal(errors[0]!.code, 'E_QUERY_REPLAYED');
  assert.equal(errors[0]!.requestId, 'run-1.r0.site-a');
  assert.equal(calls.answer, 1, 'one release computed');
  assert.equal(ledger.all().length, 1);
  client.close();
  await server.close();
});

test('a consensus that does not fit the public set is refused (E_CONSENSUS_INVALID) before it reaches the model', async () => {
  const { server, client, session, calls, errors } = await connectedSite();
  session.send({ type: 'consensus', round: 0, indices: Uint32Array.of(3, 999), rows: 2, cols: 3, labels: Int32Array.of(1, 2) });
  session.send({ type: 'consensus', round: 0, indices: Uint32Array.of(3), rows: 1, cols: 5, soft: new Float32Array(5).fill(0.2) });
  await until(() => errors.length === 2, 'both were refused');
  assert.deepEqual(errors.map((e) => e.code), ['E_CONSENSUS_INVALID', 'E_CONSENSUS_INVALID']);
  assert.match(errors[0]!.message, /999/);
  session.send({ type: 'consensus', round: 0, indices: Uint32Array.of(3), rows: 1, cols: 3, labels: Int32Array.of(2) });
  await until(() => calls.digest === 1, 'a fitting consensus is digested');
  client.close();
  await server.close();
});

test('a session the aggregator closes for cause is logged on the site with its reason (what to raise is in it)', async () => {
  const { server, client, session, logs } = await connectedSite();
  try {
    session.closeWithError(new ChannelError('E_UNSOLICITED_MESSAGES', 'over maxUnsolicitedMessages 16 (last: second join on one session); raise it if legitimate'));
    await until(() => logs.some((l) => l.startsWith('disconnected')), 'the site logs the close');
    const line = logs.find((l) => l.startsWith('disconnected'))!;
    assert.match(line, /^disconnected \(closed by the aggregator\): 4035 E_UNSOLICITED_MESSAGES: over maxUnsolicitedMessages 16/);
  } finally {
    client.close(); await server.close();
  }
});

test('a consensus re-sent for a round already digested (after an aggregator restart) is not distilled again; its metrics go out again', async () => {
  const { server, client, session, calls, logs } = await connectedSite();
  try {
    const metrics: unknown[] = [];
    session.on('message', (m) => m.type === 'metrics' && metrics.push(m));
    const consensus = { type: 'consensus' as const, round: 1, indices: Uint32Array.of(3), rows: 1, cols: 3, labels: Int32Array.of(2) };
    session.send(consensus);
    await until(() => metrics.length === 1, 'round 2 digested, metrics sent');
    session.send(consensus);
    await until(() => metrics.length === 2, 'the re-sent round answered with its metrics');
    assert.equal(calls.digest, 1, 'distilled once');
    assert.deepEqual(metrics[1], metrics[0]);
    assert.ok(logs.includes('round 2: consensus re-sent (the aggregator restarted); already digested, its metrics sent again'), logs.join('\n'));
  } finally {
    client.close(); await server.close();
  }
});

test('a site that reconnects into another run (a new run_id on the restarted aggregator) digests its rounds afresh', async () => {
  const server = await startServer();
  const calls = { digest: 0 };
  const agent = { settings: { name: 'site-a' }, publicSet: PUBLIC, ledger: new SiteLedger(), async digest() { calls.digest++; return { accuracy: 0.5 }; } } as unknown as SiteAgent;
  const client = clientFor(server, siteA, { reconnect: { baseDelayMs: 10, maxDelayMs: 20 } as never });
  const site = new SiteClient(agent, client, PUBLIC.spec, () => {});
  site.finished.catch(() => {});
  const sessions: SecureSession[] = [];
  const welcomed: (() => void)[] = [];
  server.on('session', (s: SecureSession) => s.on('message', (m: SessionMessage) => {
    if (m.type !== 'join') return;
    s.send({ type: 'welcome', requestId: m.requestId, runId: sessions.length === 0 ? 'run-A' : 'run-B', config: { rounds: 5, privacy: { noise_multiplier: 1 } } });
    sessions.push(s);
    welcomed.shift()?.();
  }));
  try {
    const first = new Promise<void>((r) => welcomed.push(r));
    await client.start();
    await first;
    const metrics: unknown[] = [];
    const consensus = { type: 'consensus' as const, round: 0, indices: Uint32Array.of(3), rows: 1, cols: 3, labels: Int32Array.of(2) };
    sessions[0]!.on('message', (m) => m.type === 'metrics' && metrics.push(m));
    sessions[0]!.send(consensus);
    await until(() => metrics.length === 1, 'run-A round 1 digested');
    const second = new Promise<void>((r) => welcomed.push(r));
    sessions[0]!.close(1011, 'server stopping');
    await second;
    sessions[1]!.on('message', (m) => m.type === 'metrics' && metrics.push(m));
    sessions[1]!.send(consensus);
    await until(() => metrics.length === 2, 'run-B round 1 answered');
    assert.equal(calls.digest, 2, 'round 1 of run-B is distilled, not taken for run-A\'s');
  } finally {
    client.close(); await server.close();
  }
});

test('a consensus of the old run still queued when the site is welcomed into a new run counts for the old run, not the new one', { timeout: 30_000 }, async () => {
  const server = await startServer();
  let n = 0;
  // the first digest is slow: run-A's round 2 waits behind it while the site reconnects into run-B
  const agent = { settings: { name: 'site-a' }, publicSet: PUBLIC, ledger: new SiteLedger(), async digest() { const k = n++; await sleep(k === 0 ? 500 : 0); return { accuracy: k }; } } as unknown as SiteAgent;
  const client = clientFor(server, siteA, { reconnect: { baseDelayMs: 10, maxDelayMs: 20 } as never });
  const site = new SiteClient(agent, client, PUBLIC.spec, () => {});
  site.finished.catch(() => {});
  const sessions: SecureSession[] = [];
  const welcomed: (() => void)[] = [];
  let runBMetrics = 0;
  server.on('session', (s: SecureSession) => s.on('message', (m: SessionMessage) => {
    if (m.type === 'metrics' && sessions.indexOf(s) === 1) runBMetrics++;
    if (m.type !== 'join') return;
    s.send({ type: 'welcome', requestId: m.requestId, runId: sessions.length === 0 ? 'run-A' : 'run-B', config: { rounds: 5, privacy: { noise_multiplier: 1 } } });
    sessions.push(s);
    welcomed.shift()?.();
  }));
  const consensus = (round: number) => ({ type: 'consensus' as const, round, indices: Uint32Array.of(3), rows: 1, cols: 3, labels: Int32Array.of(2) });
  try {
    const first = new Promise<void>((r) => welcomed.push(r));
    await client.start();
    await first;
    sessions[0]!.send(consensus(0));
    sessions[0]!.send(consensus(1));
    await sleep(50);
    const second = new Promise<void>((r) => welcomed.push(r));
    sessions[0]!.close(1011, 'server stopping');
    await second;
    await until(() => n === 2, 'both of run-A\'s rounds digested');
    sessions[1]!.send(consensus(0));
    sessions[1]!.send(consensus(1));
    await until(() => n === 4 && runBMetrics >= 2, 'run-B\'s rounds 1 and 2 are both distilled and answered');
    await sleep(100);
    assert.equal(runBMetrics, 2, 'run-A\'s round 2 metrics are not sent to run-B\'s aggregator');
  } finally {
    client.close(); await server.close();
  }
});
