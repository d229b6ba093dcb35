// Hostile sites against the bounds the charge assumes, on loopback: out-of-bound soft labels and vote histograms, replies
// counted twice (duplicates, a reconnect, an old round's id, after the cut-off). The charge must stay what the config says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { centralReleaseSensitivity } from '../../../shared/privacy/soft-labels.ts';
import type { QueryRequest } from '../../../protocols/messages.ts';
import { clientFor, sleep } from '../channel/helpers.ts';
import { honestReply, hostileSite, PUBLIC_SET, startHostileRun, type HostileHarness, type ScriptedSite } from './hostile-site-fixture.ts';

const COLS = PUBLIC_SET.numClasses;

/** Every scope was charged exactly `rounds` times, the same event each time (what the run's config implies). */
function assertChargedOnce(h: HostileHarness, scopes: string[], rounds: number): void {
  const run = h.db.ledgerEntries('run:hostile-run');
  assert.equal(run.length, rounds, `run scope: ${run.length} charges for ${rounds} rounds`);
  for (const scope of scopes) {
    const got = h.db.ledgerEntries(scope);
    assert.equal(got.length, rounds, `${scope}: ${got.length} charges for ${rounds} rounds`);
    assert.deepEqual(got.map((e) => e.event), run.map((e) => e.event), scope);
  }
}

test('soft labels beyond the bound (norm ≫ clip, negative, float32 max, summing > 1) are clamped and clipped before the noise; the charge is the configured one', async () => {
  const clip = 1;
  const z = 1e-4; // tiny noise, so that the consensus shows what was summed
  const h = await startHostileRun(['honest', 'attacker'], { strategy: { name: 'fedmd', queries_per_round: 4 }, privacy: { epsilon: 1e12, delta: 1e-5, clip, noise_multiplier: z }, quorum: 2 });
  const crafted = [
    [1e38, 0, 0], // norm ≫ clip
    [-5, 3, 0], // a negative entry (it would break the √2·clip bound of probability rows)
    [0.9, 0.9, 0.9], // sums to 2.7
    [3.4e38, 3.4e38, 3.4e38], // float32's largest values: squared, still finite in float64
  ];
  const expected = [[1, 0, 0], [0, 1, 0], [1, 1, 1].map((x) => x / Math.sqrt(3)), [1, 1, 1].map((x) => x / Math.sqrt(3))];
  const honest = await hostileSite(h, 'honest');
  const attacker = await hostileSite(h, 'attacker', (q) => ({ ...honestReply(q), soft: Float32Array.from(crafted.flat()) }));
  try {
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.rounds.map((r) => r.participants), [['attacker', 'honest'], ['attacker', 'honest']]);
    const q = honest.queries[0]!;
    const consensus = honest.soft.get(0)!;
    for (let r = 0; r < q.indices.length; r++) {
      const honestRow = [0, 0, 0];
      honestRow[q.indices[r]! % COLS] = 1;
      for (let c = 0; c < COLS; c++) {
        // consensus = (honest + clipped attacker + noise) / 2 teachers
        const attackerPart = 2 * consensus[r * COLS + c]! - honestRow[c]!;
        assert.ok(Math.abs(attackerPart - expected[r]![c]!) < 0.01, `row ${r} col ${c}: the attacker moved the sum by ${attackerPart}, expected ${expected[r]![c]}`);
      }
    }
    assertChargedOnce(h, ['site:honest', 'site:attacker'], 2);
    const event = h.db.ledgerEntries('run:hostile-run')[0]!.event as { type: string; noise_multiplier: number; count: number };
    assert.deepEqual(event, { type: 'gaussian', noise_multiplier: (z * clip) / centralReleaseSensitivity(clip, COLS, 1), count: 4 });
  } finally {
    honest.client.close(); attacker.client.close(); await h.close();
  }
});

test('a soft-label reply that declares more teachers than the run pins is refused, whatever its rows hold', async () => {
  const h = await startHostileRun(['honest', 'attacker'], { strategy: { name: 'dsfl', queries_per_round: 4 }, privacy: { epsilon: 1e12, delta: 1e-5 } });
  const honest = await hostileSite(h, 'honest');
  const attacker = await hostileSite(h, 'attacker', (q) => honestReply(q, 50));
  try {
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    for (const r of summary.rounds) {
      assert.deepEqual(r.participants, ['honest']);
      assert.ok(r.failures.some((f) => f.site === 'attacker' && /stats\.teachers is 50/.test(f.detail ?? '')), JSON.stringify(r.failures));
    }
    assertChargedOnce(h, ['site:honest'], 2);
    assert.deepEqual(h.db.ledgerEntries('site:attacker'), []);
  } finally {
    honest.client.close(); attacker.client.close(); await h.close();
  }
});

test('PATE with 2 teachers per site: 3 votes in a row, a wrong stats.teachers, fewer rows or another reply kind are each refused', async () => {
  const h = await startHostileRun(['honest', 'stuffer', 'liar', 'short', 'kind'], { rounds: 1, privacy: { epsilon: 1e9, delta: 1e-5, teachers_per_site: 2 } });
  const sites = [
    await hostileSite(h, 'honest', (q) => honestReply(q, 2)),
    // two teachers, three votes on row 0: one teacher voting twice
    await hostileSite(h, 'stuffer', (q) => { const r = honestReply(q, 2); r.votes![0] = (r.votes![0] ?? 0) + 3; return r; }),
    await hostileSite(h, 'liar', (q) => honestReply(q, 3)),
    await hostileSite(h, 'short', (q) => { const r = honestReply(q, 2); return { ...r, rows: r.rows - 1, votes: r.votes!.subarray(0, (r.rows - 1) * COLS) }; }),
    await hostileSite(h, 'kind', (q) => honestReply({ ...q, replyKind: 'soft_labels' }, 2)),
  ];
  try {
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    const [round] = summary.rounds;
    assert.deepEqual(round!.participants, ['honest']);
    assert.deepEqual(round!.failures.map((f) => `${f.site} ${f.reason}`).sort(), ['kind invalid', 'liar invalid', 'short invalid', 'stuffer invalid']);
    assert.equal(round!.metrics.teachers, 2);
    assertChargedOnce(h, ['site:honest'], 1);
    for (const s of ['stuffer', 'liar', 'short', 'kind']) assert.deepEqual(h.db.ledgerEntries(`site:${s}`), [], s);
  } finally {
    for (const s of sites) s.client.close();
    await h.close();
  }
});

test('a reply sent twice, again after a reconnect on a new session, and to an old round\'s request id is counted once', async () => {
  const h = await startHostileRun(['honest', 'repeater'], { rounds: 3, quorum: 2 });
  const honest = await hostileSite(h, 'honest');
  const old: QueryRequest[] = [];
  let repeater: ScriptedSite | undefined;
  repeater = await hostileSite(h, 'repeater', (q) => {
    old.push(q);
    const r = honestReply(q);
    // the same reply twice, and replies to every earlier round's request again, with this round's votes
    setImmediate(() => {
      if (!repeater?.session.isOpen) return;
      repeater.client.send(r);
      for (const o of old.slice(0, -1)) repeater.client.send({ ...honestReply(o), round: q.round, requestId: o.requestId });
    });
    return r;
  });
  try {
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.rounds.map((r) => r.participants), [['honest', 'repeater'], ['honest', 'repeater'], ['honest', 'repeater']]);
    for (const r of summary.rounds) assert.equal(r.metrics.teachers, 2, 'two teachers in each round\'s histogram');
    assertChargedOnce(h, ['site:honest', 'site:repeater'], 3);
    assert.ok(h.server.trackerFor('repeater').stats.duplicates >= 3, JSON.stringify(h.server.trackerFor('repeater').stats));
  } finally {
    honest.client.close(); repeater.client.close(); await h.close();
  }

  // a site that drops its session mid-round and answers on the next one: the answer settles the
  // request once; a copy on the old session's successor counts nothing more
  const r = await startHostileRun(['honest', 'flaky'], { rounds: 2, quorum: 2 });
  const honest2 = await hostileSite(r, 'honest');
  const extra: { close(): void }[] = [];
  let flaky: ScriptedSite | undefined;
  flaky = await hostileSite(r, 'flaky', (q, n) => {
    if (n > 0) return honestReply(q);
    void (async () => {
      while (!flaky) await sleep(5);
      flaky.client.close('reconnecting mid-round');
      const again = clientFor(r.server, r.identities.flaky!);
      extra.push(again);
      const s = await again.start();
      await s.request({ type: 'join', siteName: 'flaky', capabilities: [], datasetHashes: { public_set: PUBLIC_SET.hash } });
      again.on('message', (m) => {
        if (m.type === 'query_request') again.send(honestReply(m));
        if (m.type === 'consensus') again.send({ type: 'metrics', round: m.round, values: { accuracy: 0.5 } });
      });
      await sleep(20);
      again.send(honestReply(q));
      again.send(honestReply(q));
    })();
    return undefined;
  });
  try {
    const summary = await r.finish();
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.rounds.map((x) => x.participants), [['flaky', 'honest'], ['flaky', 'honest']]);
    assertChargedOnce(r, ['site:honest', 'site:flaky'], 2);
  } finally {
    honest2.client.close(); flaky.client.close(); for (const c of extra) c.close(); await r.close();
  }
});

test('a reply after the straggler cut-off is not aggregated, and the round is charged for the replies it used only', async () => {
  const h = await startHostileRun(['fast', 'late'], { rounds: 2, quorum: 1, straggler_grace_s: 0.1, round_timeout_s: 2 });
  const fast = await hostileSite(h, 'fast');
  let late: ScriptedSite | undefined;
  late = await hostileSite(h, 'late', (q) => {
    setTimeout(() => { if (late?.session.isOpen) late.client.send(honestReply(q)); }, 400);
    return undefined;
  });
  try {
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    for (const r of summary.rounds) {
      assert.deepEqual(r.participants, ['fast']);
      assert.ok(r.failures.some((f) => f.site === 'late' && /straggler/.test(f.detail ?? '')), JSON.stringify(r.failures));
    }
    assertChargedOnce(h, ['site:fast'], 2);
    assert.deepEqual(h.db.ledgerEntries('site:late'), []);
    assert.deepEqual(late.consensus, [], 'a site whose reply was not used gets no consensus');
  } finally {
    fast.client.close(); late.client.close(); await h.close();
  }
});
