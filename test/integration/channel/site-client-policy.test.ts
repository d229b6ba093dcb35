// A real site client and agent driven by a hostile aggregator on loopback: the site's own budget and policy win, every reply is in its ledger before it arrives, floods close the session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QueryRequest, SessionMessage } from '../../../protocols/messages.ts';
import { SiteClient } from '../../../client/site-client.ts';
import type { SiteAgent } from '../../../client/site-agent.ts';
import type { SecureSession } from '../../../shared/channel/secure-session.ts';
import { RdpAccountant } from '../../../shared/privacy/rdp-accountant.ts';
import { realAgent } from '../client/hostile-aggregator.ts';
import { clientFor, closed, nextSession, siteA, sleep, startServer } from './helpers.ts';

/**
 * The charge of a soft-label reply: σ = z·clip over √2·clip (replace-one) + 2⁻²⁰·√cols (the release
 * grid) + transport·√cols (float32 rounding before central noise: 2^(⌊log2(teachers·clip)⌋ − 23)).
 */
const softCharge = (z: number, clip: number, cols: number, rows: number, transport = 0) =>
  ({ type: 'gaussian' as const, noise_multiplier: (z * clip) / (Math.SQRT2 * clip + 2 ** -20 * Math.sqrt(cols) + transport * Math.sqrt(cols)), count: rows });

/** The aggregator end: welcomes the join with `privacy`, then the test drives the session by hand. */
async function hostileAggregator(agent: SiteAgent, privacy: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const server = await startServer();
  const accepted = nextSession(server);
  const client = clientFor(server, siteA, { reconnect: false });
  const site = new SiteClient(agent, client, 'test:public');
  site.finished.catch(() => {});
  const welcomed = new Promise<{ session: SecureSession; capabilities: readonly string[] }>((resolve) => {
    void accepted.then((s) => s.on('message', (m: SessionMessage) => {
      if (m.type === 'join') {
        s.send({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5, privacy, ...extra } });
        resolve({ session: s, capabilities: m.capabilities });
      }
    }));
  });
  await client.start();
  const { session, capabilities } = await welcomed;
  return { server, client, site, session, capabilities, close: async () => { client.close(); await server.close(); } };
}

let nextId = 0;
const query = (publicHash: string, over: Partial<QueryRequest> = {}): Omit<QueryRequest, 'v'> => ({
  type: 'query_request', requestId: `run-1.q${nextId++}`, round: 0, publicSet: { datasetSpec: 'test:public', hash: publicHash },
  indices: Uint32Array.of(0, 1, 2, 3), replyKind: 'soft_labels', params: { temperature: 1 }, ...over,
});

test("over its own budget the site answers E_SITE_BUDGET_EXHAUSTED whatever the Welcome promises; each reply is in its ledger before it arrives", async () => {
  const one = softCharge(2, 0.5, 3, 4);
  const eps = (n: number) => { const a = new RdpAccountant(); for (let i = 0; i < n; i++) a.compose(one); return a.getEpsilon(1e-6).epsilon; };
  const { agent, ledger, runs, publicSet } = realAgent({ localNoiseMultiplier: 2, epsilon: (eps(2) + eps(3)) / 2, delta: 1e-6 });
  // A Welcome promising huge central noise, a loose δ and no clip: none of it may lower the site's charge.
  const agg = await hostileAggregator(agent, { noise_multiplier: 1e6, delta: 0.5, clip: 1e9 });
  try {
    for (let i = 0; i < 2; i++) {
      const q = query(publicSet.hash, { params: { temperature: 1, clip: 1e9 } });
      const reply = await agg.session.request(q);
      assert.equal(reply.type, 'query_reply');
      assert.ok(ledger.all().some((e) => e.requestId === q.requestId), 'charged before it arrived');
      if (reply.type === 'query_reply') assert.deepEqual(reply.privacyEvent, one);
    }
    await assert.rejects(agg.session.request(query(publicSet.hash)), { code: 'E_SITE_BUDGET_EXHAUSTED' });
    assert.equal(ledger.all().length, 2);
    assert.equal(runs.predict, 2, 'no teacher ran for the refused query');
  } finally {
    await agg.close();
  }
});

test('a query for another reply kind, an index outside the public set or a zero temperature is refused E_QUERY_INVALID; nothing is charged', async () => {
  const { agent, ledger, runs, publicSet } = realAgent({ localNoiseMultiplier: 1 });
  const agg = await hostileAggregator(agent, {});
  try {
    assert.deepEqual(agg.capabilities, ['soft_labels'], 'a site with local noise offers no vote histograms');
    for (const over of [{ replyKind: 'logits' as const }, { indices: Uint32Array.of(2, 4_000_000) }, { params: { temperature: 0 } }]) {
      await assert.rejects(agg.session.request(query(publicSet.hash, over)), { code: 'E_QUERY_INVALID' });
    }
    await assert.rejects(agg.session.request(query(publicSet.hash, { replyKind: 'vote_histogram' })), { code: 'E_QUERY_REFUSED' });
    assert.equal(ledger.all().length, 0);
    assert.equal(runs.predict, 0);
  } finally {
    await agg.close();
  }
});

test('a flood of queries past the in-flight limit closes the session (E_TOO_MANY_IN_FLIGHT); nothing beyond the limit is computed', async () => {
  let open!: () => void;
  const { agent, runs, publicSet } = realAgent({ localNoiseMultiplier: 1 }, undefined, undefined, new Promise<void>((r) => { open = r; }));
  const agg = await hostileAggregator(agent, {});
  try {
    const shut = closed(agg.session);
    for (let i = 0; i < 100; i++) agg.session.send(query(publicSet.hash, { indices: Uint32Array.of(i % 10) }));
    const info = await shut;
    assert.equal(info.code, 4031);
    assert.equal(info.errorCode ?? /E_TOO_MANY_IN_FLIGHT/.exec(info.reason)?.[0], 'E_TOO_MANY_IN_FLIGHT');
    open();
    await sleep(50);
    assert.ok(runs.predict <= 64, `${runs.predict} queries computed; the limit is 64`);
  } finally {
    open();
    await agg.close();
  }
});

test('a site whose teacher count is not the run\'s teachers_per_site stops at join with E_TEACHERS_MISMATCH, before answering anything', async () => {
  const { agent, ledger, runs } = realAgent({ localNoiseMultiplier: 1 });
  const agg = await hostileAggregator(agent, { noise_multiplier: 1, delta: 1e-5 }, { teachers_per_site: 3 });
  try {
    await assert.rejects(agg.site.finished, { code: 'E_TEACHERS_MISMATCH', message: /weights every site as 3 teacher\(s\).*answers with 1: set teachers: 3/ });
    assert.equal(runs.predict, 0);
    assert.equal(ledger.all().length, 0);
  } finally {
    await agg.close();
  }
});
