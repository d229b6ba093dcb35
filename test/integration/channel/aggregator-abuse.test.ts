// A hostile site against the real Aggregator on loopback: bad replies, stray metrics and wrong-way messages; the run still completes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CHANNEL_ERRORS } from '../../../protocols/error-catalogue.ts';
import { encodeMessage } from '../../../protocols/codec.ts';
import type { ErrorMessage } from '../../../protocols/messages.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { clientFor, closed, siteA, siteB } from './helpers.ts';
import { honestReply, PUBLIC_SET, scriptedSite, startRun } from './aggregator-fixture.ts';

test('a reply that fails the checks drops a round below quorum: the round is retried with fresh request ids and the run completes', async () => {
  const h = await startRun({ quorum: 2 });
  const a = await scriptedSite(h.server, siteA);
  const b = await scriptedSite(h.server, siteB, (q, n) => (n === 0 ? { ...honestReply(q), rows: 1, votes: new Int32Array(3) } : honestReply(q)));
  try {
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.rounds.map((r) => r.participants), [['site-a', 'site-b'], ['site-a', 'site-b']]);
    assert.ok(h.log.some((l) => /site-b invalid/.test(l)), h.log.join('\n'));
    assert.equal(h.server.trackerFor('site-a').stats.resolved, 3, 'site-a answered the failed attempt and its retry under different ids');
  } finally {
    a.client.close(); b.client.close(); await h.close();
  }
});

test('a vote histogram with more votes per row than declared teachers is refused; the others are served and the run completes', async () => {
  const h = await startRun({ quorum: 1 });
  const a = await scriptedSite(h.server, siteA);
  // 2^31−1 votes per cell: summed with anyone else's it used to wrap the Int32 histogram negative and crash the run
  const b = await scriptedSite(h.server, siteB, (q) => ({ ...honestReply(q), votes: new Int32Array(q.indices.length * PUBLIC_SET.numClasses).fill(2 ** 31 - 1) }));
  try {
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    for (const r of summary.rounds) {
      assert.deepEqual(r.participants, ['site-a']);
      assert.ok(r.failures.some((f) => f.site === 'site-b' && f.reason === 'invalid' && /votes/.test(f.detail ?? '')), JSON.stringify(r.failures));
    }
    assert.deepEqual(a.consensus, [0, 1]);
  } finally {
    a.client.close(); b.client.close(); await h.close();
  }
});

test('metrics before joining, for a round that never ran, or twice are refused (E_METRICS_REFUSED) and stored nowhere', async () => {
  const h = await startRun({ quorum: 1, min_sites: 1, rounds: 1 });
  const stranger = await clientFor(h.server, siteB).start();
  const refusals: ErrorMessage[] = [];
  stranger.on('message', (m) => m.type === 'error' && refusals.push(m));
  stranger.send({ type: 'metrics', round: 0, values: { accuracy: 1 } });
  const a = await scriptedSite(h.server, siteA);
  a.session.on('message', (m) => m.type === 'error' && refusals.push(m));
  a.session.send({ type: 'metrics', round: 987_654, values: { accuracy: 1 } });
  try {
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    a.session.send({ type: 'metrics', round: 0, values: { accuracy: 0.01 } }); // a second report for a recorded round
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(refusals.map((m) => m.code), ['E_METRICS_REFUSED', 'E_METRICS_REFUSED', 'E_METRICS_REFUSED']);
    const siteRows = h.db.metrics('abuse-run').filter((m) => m.source !== 'aggregator');
    assert.deepEqual(siteRows, [{ round: 0, source: 'site:site-a', name: 'accuracy', value: 0.5 }]);
  } finally {
    a.client.close(); stranger.close(); await h.close();
  }
});

test('a site that sends aggregator-only messages is closed with E_PROTOCOL; the other site completes the run', async () => {
  const h = await startRun({ quorum: 1, min_sites: 1 });
  const a = await scriptedSite(h.server, siteA);
  const rogue = await clientFor(h.server, siteB).start();
  const gone = closed(rogue);
  rogue.send({ type: 'consensus', round: 0, indices: new Uint32Array([1]), rows: 1, cols: 3, labels: new Int32Array([2]) });
  try {
    const info = await Promise.race([gone, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000))]);
    assert.equal(info?.code, CHANNEL_ERRORS.E_PROTOCOL.close, 'the rogue session was not closed');
    assert.equal((await h.finish()).status, 'complete');
    assert.deepEqual(a.consensus, [0, 1]);
  } finally {
    a.client.close(); await h.close();
  }
});

test('nothing reaches the round loop before the handshake: plaintext join and metrics are refused with E_HANDSHAKE_FAILED', async () => {
  const h = await startRun({ quorum: 1, min_sites: 1, rounds: 1 });
  for (const m of [
    { type: 'join', v: PROTOCOL_VERSION, requestId: 'j1', siteName: 'site-a', capabilities: [], datasetHashes: { public_set: PUBLIC_SET.hash } },
    { type: 'metrics', v: PROTOCOL_VERSION, round: 0, values: { accuracy: 1 } },
  ]) {
    const ws = new WebSocket(h.server.url, { perMessageDeflate: false });
    const code = new Promise<number>((r) => ws.on('close', r));
    await new Promise((r) => ws.once('open', r));
    ws.send(encodeMessage(m));
    assert.equal(await code, CHANNEL_ERRORS.E_HANDSHAKE_FAILED.close);
  }
  const a = await scriptedSite(h.server, siteA);
  try {
    assert.equal((await h.finish()).status, 'complete');
    assert.deepEqual(h.db.sites('abuse-run').map((s) => s.site), ['site-a']);
    assert.equal(h.server.stats.refused.E_HANDSHAKE_FAILED, 2);
  } finally {
    a.client.close(); await h.close();
  }
});

test('a site that joins again and again on one session is closed with E_UNSOLICITED_MESSAGES; the run completes for the others', { timeout: 30_000 }, async () => {
  const h = await startRun({ quorum: 1, min_sites: 1 });
  const a = await scriptedSite(h.server, siteA);
  const bClient = clientFor(h.server, siteB);
  const b = await bClient.start();
  const join = { type: 'join' as const, siteName: 'site-b', capabilities: [], datasetHashes: { public_set: PUBLIC_SET.hash } };
  try {
    const bClosed = closed(b);
    // the first join is legitimate; the default budget forgives 16 more strikes: the 18th join is one too many
    // as requests, so that the welcomes are expected on this side and only the aggregator's budget is tested
    for (let i = 0; i < 40 && b.isOpen; i++) { b.request(join).catch(() => {}); await new Promise((r) => setImmediate(r)); }
    const info = await bClosed;
    assert.equal(info.code, CHANNEL_ERRORS.E_UNSOLICITED_MESSAGES.close);
    assert.match(info.reason, /second join on one session/);
    // the operator sees why in the aggregator's log
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(h.log.some((l) => /^site site-b session closed: E_UNSOLICITED_MESSAGES: over maxUnsolicitedMessages/.test(l)), h.log.join('\n'));
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    assert.ok(summary.rounds.every((r) => r.participants.includes('site-a')));
  } finally {
    a.client.close(); bClient.close(); await h.close();
  }
});

test('a site that calls itself by another name than its key\'s allowlist name is refused at join (E_SITE_NAME_MISMATCH)', async () => {
  const h = await startRun();
  try {
    const client = clientFor(h.server, siteA);
    const session = await client.start();
    await assert.rejects(session.request({ type: 'join', siteName: 'site-b', capabilities: ['vote_histogram'], datasetHashes: { public_set: PUBLIC_SET.hash } }),
      { code: 'E_SITE_NAME_MISMATCH', message: /allowlisted as "site-a".*set name: site-a/ });
    assert.ok(!h.log.some((l) => /site site-a joined/.test(l)), 'not joined');
    client.close();
  } finally {
    await h.close();
  }
});
