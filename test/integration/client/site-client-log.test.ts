// What a site's operator reads, on loopback: whole reconnect reasons, no echo of the site's own closes, join refusals that lead with what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionMessage } from '../../../protocols/messages.ts';
import { ChannelError } from '../../../protocols/error-catalogue.ts';
import { SiteClient, boundedReason } from '../../../client/site-client.ts';
import type { SiteAgent } from '../../../client/site-agent.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { clientFor, closed, nextSession, siteA, sleep, startServer, stranger } from '../channel/helpers.ts';
import { PUBLIC_SET, startRun } from '../channel/aggregator-fixture.ts';

/** A stand-in SiteAgent for join and logging paths: it never answers a query. */
function stubAgent(o: { name?: string; hash?: string; teachers?: number } = {}): SiteAgent {
  return {
    settings: { name: o.name ?? 'site-a' }, publicSet: { ...PUBLIC_SET, hash: o.hash ?? PUBLIC_SET.hash }, ledger: new SiteLedger(),
    answeringTeachers: o.teachers ?? 1, baselineAccuracy: undefined, lastAccuracy: undefined,
  } as unknown as SiteAgent;
}

async function until(ok: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 300 && !ok(); i++) await sleep(10);
  assert.ok(ok(), what());
}

test('a refused handshake: the reconnect line keeps the refusal\'s advice at its end, on one line', async () => {
  const server = await startServer();
  // `stranger` is not on the allowlist: the aggregator refuses it with E_UNKNOWN_SITE_KEY and the site retries
  const client = clientFor(server, stranger, { reconnect: { initialDelayMs: 20, maxDelayMs: 20, maxAttempts: 1 } });
  const logs: string[] = [];
  const site = new SiteClient(stubAgent(), client, PUBLIC_SET.spec, (l) => logs.push(l));
  site.finished.catch(() => {});
  client.start().catch(() => {});
  try {
    await until(() => logs.some((l) => l.startsWith('reconnecting in')), () => logs.join('\n'));
    const line = logs.find((l) => l.startsWith('reconnecting in'))!;
    assert.match(line, /E_UNKNOWN_SITE_KEY: .*is not on the allowlist; add it with its site name\).*; retrying\)$/, line);
  } finally {
    client.close();
    await server.close();
  }
});

test('boundedReason: peer text stays on one line and within a bound, and keeps both its start and its advice', () => {
  const long = `E_X: ${'cause '.repeat(200)}\n\u001b[31mforged line; do this: raise the limit`;
  const r = boundedReason(long);
  assert.ok(r.length <= 400, `${r.length}`);
  assert.ok(!/[\n\r\u001b]/.test(r), r);
  assert.ok(r.startsWith('E_X: cause'), r);
  assert.ok(r.endsWith('do this: raise the limit'), r);
  assert.equal(boundedReason('short\nreason'), 'short\\nreason');
});

/** A bare aggregator end that answers the join with `answer`, then lets the test drive the session. */
async function bareAggregator(answer: (m: Extract<SessionMessage, { type: 'join' }>) => Record<string, unknown>) {
  const server = await startServer();
  const accepted = nextSession(server);
  const client = clientFor(server, siteA);
  const logs: string[] = [];
  const site = new SiteClient(stubAgent(), client, PUBLIC_SET.spec, (l) => logs.push(l));
  const outcome = site.finished.then(() => 'finished', (e: Error) => e);
  void accepted.then((s) => s.on('message', (m: SessionMessage) => { if (m.type === 'join') s.send(answer(m) as never); }));
  await client.start();
  return { server, client, site, outcome, logs, session: await accepted };
}

test('the site does not log its own closes: the end of its run, a fatal join refusal; it still logs the aggregator\'s', async () => {
  // the end of a run: the last round is digested here and run-site closes with "site done"
  const ok = await bareAggregator((m) => ({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 1 } }));
  try {
    await until(() => ok.logs.some((l) => l.startsWith('joined run')), () => ok.logs.join('\n'));
    const gone = closed(ok.session);
    ok.client.close('site done');
    await gone;
    await sleep(20);
    assert.deepEqual(ok.logs.filter((l) => l.includes('disconnected')), [], ok.logs.join('\n'));
  } finally { await ok.server.close(); }

  // a fatal refusal at join: the error says why; a "disconnected (closed here)" line would only follow it
  const refused = await bareAggregator((m) => ({ type: 'error', code: 'E_SITE_NAME_MISMATCH', requestId: m.requestId, message: 'wrong name; set name: site-a in its site.yaml' }));
  try {
    const e = await refused.outcome;
    assert.ok(e instanceof Error, String(e));
    const gone = closed(refused.session);
    refused.client.close('site done');
    await gone;
    await sleep(20);
    assert.deepEqual(refused.logs.filter((l) => l.includes('disconnected')), [], refused.logs.join('\n'));
  } finally { await refused.server.close(); }

  // a close the aggregator made for cause is still reported
  const cut = await bareAggregator((m) => ({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5 } }));
  try {
    await until(() => cut.logs.some((l) => l.startsWith('joined run')), () => cut.logs.join('\n'));
    cut.session.closeWithError(new ChannelError('E_PROTOCOL', 'test close'));
    await until(() => cut.logs.some((l) => l.startsWith('disconnected (closed by the aggregator): 4000')), () => cut.logs.join('\n'));
  } finally { cut.client.close(); await cut.server.close(); }
});

test('join refusals from a real aggregator lead with what is wrong and what to do; the request id comes last', async () => {
  const h = await startRun({ min_sites: 3 });
  try {
    for (const [agent, code, re] of [
      [stubAgent({ name: 'site-x' }), 'E_SITE_NAME_MISMATCH', /^this site's key is allowlisted as "site-a", but it calls itself "site-x"; set name: site-a in its site\.yaml.*\(the aggregator's answer to join request \S+\)$/],
      [stubAgent({ hash: 'sha256:beef' }), 'E_PUBLIC_SET_MISMATCH', /^the run's public set is test:public \(hash sha256:feed\); this site's public set hashes to sha256:beef: set public_set: test:public in its site\.yaml, or check the run config's public_set.* \(this site's public_set: my:set\) \(the aggregator's answer to join request \S+\)$/],
    ] as const) {
      const client = clientFor(h.server, siteA);
      const site = new SiteClient(agent, client, 'my:set');
      const failed = site.finished.then(() => assert.fail('the site should have stopped'), (e: Error & { code?: string }) => e);
      await client.start();
      const e = await failed;
      assert.equal(e.code, code);
      assert.doesNotMatch(e.message, /^peer refused/);
      assert.match(e.message, re);
      client.close('site done');
    }
  } finally {
    await h.close();
  }
});
