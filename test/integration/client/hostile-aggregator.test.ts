// A site against an aggregator impostor holding the pinned key, on loopback: nothing it asks makes the site release uncharged, answer on another set, or lose its ledger's bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QueryReply, QueryRequest } from '../../../protocols/messages.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { RdpAccountant } from '../../../shared/privacy/rdp-accountant.ts';
import { ask, impostor, query, realAgent, until } from './hostile-aggregator.ts';
import { sleep } from '../channel/helpers.ts';

const isReply = (r: unknown): r is QueryReply => (r as { type?: string }).type === 'query_reply';

test('a temperature that overflows the softmax, or logits that are not finite, still get a charged, noised reply: the outcome never depends on the logits', async () => {
  // Class-0 rows (feature 0 ≈ 0.8) have logit 40, the others 5: at T = 1e-37, 40/T overflows float32 and 5/T does not.
  for (const logitsOf of [(x: Float32Array) => [x[0]! > 0.5 ? 40 : 5, 0, -1], (x: Float32Array) => [x[0]! > 0.5 ? NaN : 5, 0, -1]]) {
    const { agent, ledger, publicSet } = realAgent({ localNoiseMultiplier: 1 }, logitsOf);
    const agg = await impostor(agent, {});
    try {
      const outcomes = [];
      for (let i = 0; i < 4; i++) outcomes.push(await ask(agg.session, query(publicSet.hash, { indices: Uint32Array.of(i), params: { temperature: 1e-37 } })));
      // an answer for some rows and a refusal for others would tell the aggregator, un-noised and uncharged, which rows had the large logit
      assert.deepEqual(outcomes.map((o) => (isReply(o) ? 'reply' : o.code)), ['reply', 'reply', 'reply', 'reply']);
      for (const o of outcomes) if (isReply(o)) assert.ok(o.soft!.every(Number.isFinite));
      assert.equal(ledger.all().length, 4, 'each reply is charged');
    } finally {
      await agg.close();
    }
  }
});

test('a clip or σ so small that no order gives a finite ε is refused before any teacher runs; the ledger keeps a finite bound and the run ends cleanly', async () => {
  const { agent, ledger, runs, publicSet } = realAgent({});
  // No site budget: nothing else would stop an unaccountable event from entering the ledger.
  const agg = await impostor(agent, { rounds: 1, privacy: { noise_multiplier: 1, sigma1: 1e-200, sigma2: 1e-200, threshold: 1 } });
  try {
    const asks: Partial<QueryRequest>[] = [{ params: { temperature: 1, clip: 1e-300 } }, { replyKind: 'vote_histogram', params: {} }];
    for (const over of asks) {
      const o = await ask(agg.session, query(publicSet.hash, over));
      assert.equal(isReply(o) ? 'reply' : o.code, 'E_QUERY_REFUSED');
    }
    assert.equal(runs.predict, 0);
    assert.equal(ledger.all().length, 0);
    assert.ok(isReply(await ask(agg.session, query(publicSet.hash))), 'an ordinary query is still answered');
    agg.session.send({ type: 'consensus', round: 0, indices: Uint32Array.of(0), rows: 1, cols: 3, soft: Float32Array.of(1, 0, 0) });
    const r = await agg.outcome;
    assert.ok(!(r instanceof Error), String(r));
    assert.ok(Number.isFinite(r.ledgerEpsilon) && r.ledgerEpsilon > 0, `${r.ledgerEpsilon}`);
    await until(() => agg.messages.some((m) => m.type === 'metrics'), () => 'metrics after the digest');
    const metrics = agg.messages.find((m) => m.type === 'metrics');
    assert.ok(metrics?.type === 'metrics' && Number.isFinite(metrics.values.ledger_epsilon), JSON.stringify(metrics));
  } finally {
    await agg.close();
  }
});

test('a query naming another public set (its hash) is refused E_PUBLIC_SET_MISMATCH before any teacher runs', async () => {
  const { agent, ledger, runs, publicSet } = realAgent({ localNoiseMultiplier: 1 });
  const agg = await impostor(agent, {});
  try {
    const o = await ask(agg.session, query('sha256:another-set'));
    assert.equal(isReply(o) ? 'reply' : o.code, 'E_PUBLIC_SET_MISMATCH');
    assert.equal(runs.predict, 0);
    assert.equal(ledger.all().length, 0);
    assert.ok(isReply(await ask(agg.session, query(publicSet.hash))));
  } finally {
    await agg.close();
  }
});

test('a Welcome announcing another public set than the one the site joined with stops the site at join (E_PUBLIC_SET_MISMATCH)', async () => {
  const { agent, runs } = realAgent({ localNoiseMultiplier: 1 });
  const agg = await impostor(agent, { public_set: { spec: 'test:public', hash: 'sha256:another-set' } });
  try {
    const r = await Promise.race([agg.outcome, sleep(3000).then(() => 'still running')]);
    assert.ok(r instanceof Error, `the site must stop, got ${String(r)}`);
    assert.equal((r as Error & { code?: string }).code, 'E_PUBLIC_SET_MISMATCH');
    await until(() => agg.messages.some((m) => m.type === 'leave'), () => 'the site says why it leaves');
    assert.equal(runs.predict, 0);
  } finally {
    await agg.close();
  }
});

test('a Welcome announcing a loose δ does not shrink the ε the site reports: it reports at its own δ (policy.delta, default 1e-5) when the run\'s is looser', async () => {
  const { agent, ledger, publicSet } = realAgent({ localNoiseMultiplier: 1 });
  const agg = await impostor(agent, { rounds: 1, privacy: { delta: 0.5 } });
  try {
    assert.ok(isReply(await ask(agg.session, query(publicSet.hash))));
    agg.session.send({ type: 'consensus', round: 0, indices: Uint32Array.of(0), rows: 1, cols: 3, soft: Float32Array.of(1, 0, 0) });
    const r = await agg.outcome;
    assert.ok(!(r instanceof Error), String(r));
    assert.equal(r.ledgerDelta, 1e-5);
    assert.equal(r.ledgerEpsilon, ledger.epsilon(1e-5));
    assert.ok(r.ledgerEpsilon > ledger.epsilon(0.5));
  } finally {
    await agg.close();
  }
});

test('checked and sound: rounds backwards, a round asked again, bursts and a consensus for a round never asked: each release is charged once, on disk before it arrives, until the budget stops them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-hostile-ledger-'));
  const file = join(dir, 'site-a.ledger.jsonl');
  try {
    const one = { type: 'gaussian' as const, noise_multiplier: (2 * 0.5) / (Math.SQRT2 * 0.5 + 2 ** -20 * Math.sqrt(3)), count: 4 };
    const eps = (n: number) => { const a = new RdpAccountant(); for (let i = 0; i < n; i++) a.compose(one); return a.getEpsilon(1e-6).epsilon; };
    const { agent, ledger, publicSet } = realAgent({ localNoiseMultiplier: 2, epsilon: (eps(3) + eps(4)) / 2, delta: 1e-6 }, undefined, file);
    // huge promised central noise and a loose δ: neither may lower the site's own charge
    const agg = await impostor(agent, { privacy: { noise_multiplier: 1e6, delta: 0.5 } });
    try {
      // read back from the file the moment each reply arrives
      const onDisk: boolean[] = [];
      const askAndLook = (q: ReturnType<typeof query>) => ask(agg.session, q).then((o) => { if (isReply(o)) onDisk.push(new SiteLedger(file).has(q.requestId)); return o; });
      const qs = [5, 2, 2, 0, 7, 7].map((round) => query(publicSet.hash, { round, params: { temperature: 1, clip: 1e9 } }));
      // sent at once, with the first request repeated and a consensus of huge values for a round never asked in between
      const pending = qs.slice(0, 3).map(askAndLook);
      agg.session.send({ type: 'consensus', round: 3, indices: Uint32Array.of(0, 1), rows: 2, cols: 3, soft: Float32Array.of(3e38, -3e38, 1, 0, 0, 3e38) });
      agg.session.send(qs[0]!);
      pending.push(...qs.slice(3).map(askAndLook));
      const outcomes = await Promise.all(pending);
      assert.deepEqual(outcomes.map((o) => (isReply(o) ? 'reply' : o.code)), ['reply', 'reply', 'reply', 'E_SITE_BUDGET_EXHAUSTED', 'E_SITE_BUDGET_EXHAUSTED', 'E_SITE_BUDGET_EXHAUSTED']);
      for (const o of outcomes) if (isReply(o)) assert.deepEqual(o.privacyEvent, one);
      assert.deepEqual(onDisk, [true, true, true], 'every reply was on disk before it arrived');
      // the site's own log says what it refused, not only the aggregator
      for (const q of qs.slice(3)) assert.ok(agg.logs.some((l) => l.startsWith(`round ${q.round + 1}: query ${q.requestId} not answered: E_SITE_BUDGET_EXHAUSTED: `)), agg.logs.join('\n'));
      // the repeated request got its reply again (a reply to an answered request: dropped and counted by the tracker)
      await until(() => agg.server.trackerFor('site-a').stats.duplicates === 1, () => `the repeat was re-sent: ${JSON.stringify(agg.server.trackerFor('site-a').stats)}`);
      // one entry per request id, the repeat included once; the file reloads to the same entries and ε
      const reloaded = new SiteLedger(file);
      assert.deepEqual(reloaded.all().map((e) => e.requestId), qs.slice(0, 3).map((q) => q.requestId));
      assert.deepEqual(reloaded.all().map((e) => e.round), [5, 2, 2]);
      assert.equal(reloaded.epsilon(1e-6), ledger.epsilon(1e-6));
      assert.ok(ledger.epsilon(1e-6) <= (eps(3) + eps(4)) / 2);
    } finally {
      await agg.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stopping site drops its queued queries and lets the one in progress end before the ledger can be given back; a closed ledger records nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-stop-ledger-'));
  const file = join(dir, 'site-a.ledger.jsonl');
  let open!: () => void;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  const { agent, ledger, runs, publicSet } = realAgent({ localNoiseMultiplier: 1 }, undefined, file, gate);
  const agg = await impostor(agent, {});
  try {
    for (let i = 0; i < 3; i++) agg.session.send(query(publicSet.hash, { round: i }));
    // the first query is in progress (its teacher waits on the gate); the other two are queued
    await until(() => runs.predict === 1 && agg.site.working, () => `predict runs: ${runs.predict}`);
    const stopped = agg.site.stop();
    open();
    await stopped;
    assert.equal(agg.site.working, false);
    assert.equal(runs.predict, 1, 'the queued queries were dropped, not answered');
    assert.equal(new SiteLedger(file).all().length, 1, 'only the query in progress was recorded');
    await sleep(50);
    assert.equal(new SiteLedger(file).all().length, 1, 'nothing was recorded after stop() settled');
    // after close (the lock given back), a record would be a second writer: refused
    ledger.close();
    assert.throws(() => ledger.record({ runId: 'run-1', round: 9, requestId: 'run-1.late', replyKind: 'soft_labels', rows: 1, event: { type: 'gaussian', noise_multiplier: 1 } }),
      { code: 'E_LEDGER_WRITE', message: /was closed \(this client is stopping or its run has ended\): request run-1\.late is not recorded/ });
    assert.equal(new SiteLedger(file).all().length, 1);
  } finally {
    open();
    await agg.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
