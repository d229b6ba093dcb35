// min_sites is the wait before round 1. A run restarted after its rounds began waits for min_sites only as
// long as live sites take to reconnect (60 s, or join_timeout_s if shorter), then goes on with quorum: a
// site removed from the allowlist meanwhile (docs/runs.md's advice for a failing site), or one still down,
// used to stall the restart until join_timeout_s and fail E_QUORUM_TIMEOUT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../../server/aggregator.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { honestReply, hostileSite, PUBLIC_SET, startHostileRun } from './hostile-site-fixture.ts';

test('a run restarted after round 1 goes on with quorum sites once min_sites has had its time', { timeout: 30_000 }, async () => {
  const names = ['site-a', 'site-b', 'site-c'];
  const h = await startHostileRun(names, { rounds: 2, quorum: 2, min_sites: 3, join_timeout_s: 2 });
  try {
    // round 1 is answered; round 2's queries are not, so the stop lands inside it, before its release
    const sites = await Promise.all(names.map((n) => hostileSite(h, n, (q) => (q.round === 0 ? honestReply(q) : undefined))));
    while (sites.some((s) => s.consensus.length === 0) || sites.some((s) => s.queries.every((q) => q.round === 0))) await new Promise((r) => setTimeout(r, 20));
    h.aggregator.stop();
    assert.equal((await h.finish()).status, 'stopped');
    assert.equal(h.db.lastCompletedRound(h.config.runId), 0);
    for (const s of sites) s.client.close();
    // two of the three come back (quorum 2, min_sites 3)
    const log: string[] = [];
    const again = new Aggregator({ db: h.db, config: h.config, strategy: strategyFor(h.config), hub: h.server, publicSet: PUBLIC_SET, audit: h.audit, log: (l) => log.push(l) });
    const running = again.run();
    await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    const summary = await running; // join_timeout_s is 2: waiting for min_sites threw E_QUORUM_TIMEOUT
    assert.equal(summary.status, 'complete', log.join('\n'));
    assert.equal(h.db.lastCompletedRound(h.config.runId), 1);
    assert.ok(log.some((l) => l.startsWith('going on with 2 of min_sites 3 sites after 2 s (quorum 2)')), log.join('\n'));
    again.stop();
  } finally {
    await h.close();
  }
});

test('a completed run extended with more rounds waits for min_sites, as before round 1: its sites exited at its end and are started again by hand', { timeout: 30_000 }, async () => {
  const names = ['site-a', 'site-b', 'site-c'];
  const h = await startHostileRun(names, { rounds: 1, quorum: 2, min_sites: 3, join_timeout_s: 2 });
  try {
    const sites = await Promise.all(names.map((n) => hostileSite(h, n)));
    assert.equal((await h.finish()).status, 'complete');
    for (const s of sites) s.client.close();
    const more = { ...h.config, rounds: 2 };
    const log: string[] = [];
    const again = new Aggregator({ db: h.db, config: more, strategy: strategyFor(more), hub: h.server, publicSet: PUBLIC_SET, audit: h.audit, log: (l) => log.push(l) });
    const running = again.run();
    await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    // two of three within join_timeout_s (2 s): not enough for min_sites 3, so no round 2 with only them
    await assert.rejects(running, { code: 'E_QUORUM_TIMEOUT' });
    assert.ok(log.some((l) => /completed 1 round\(s\); extending it to 2/.test(l)), log.join('\n'));
    assert.equal(h.db.lastCompletedRound(h.config.runId), 0);
  } finally {
    await h.close();
  }
});

test('an extension cut short (here its wait for min_sites failed; kill -9 leaves the same) restarts as a stopped run: the short wait, then quorum', { timeout: 30_000 }, async () => {
  const names = ['site-a', 'site-b', 'site-c'];
  const h = await startHostileRun(names, { rounds: 1, quorum: 2, min_sites: 3, join_timeout_s: 2 });
  try {
    const sites = await Promise.all(names.map((n) => hostileSite(h, n)));
    assert.equal((await h.finish()).status, 'complete');
    for (const s of sites) s.client.close();
    // extended to 3 rounds, with two of the three sites back: it waits for min_sites 3 and fails
    const more = { ...h.config, rounds: 3 };
    const extension = new Aggregator({ db: h.db, config: more, strategy: strategyFor(more), hub: h.server, publicSet: PUBLIC_SET, audit: h.audit, log: () => {} });
    const extending = extension.run();
    const back = await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    await assert.rejects(extending, { code: 'E_QUORUM_TIMEOUT' });
    for (const s of back) s.client.close();
    assert.equal(h.db.getRun(h.config.runId)!.status, 'running', 'not complete while its extension is unfinished');
    // restarted: a stopped run's short wait, then quorum (it was taken for a fresh extension, and failed again)
    const log: string[] = [];
    const again = new Aggregator({ db: h.db, config: more, strategy: strategyFor(more), hub: h.server, publicSet: PUBLIC_SET, audit: h.audit, log: (l) => log.push(l) });
    const running = again.run();
    await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    assert.equal((await running).status, 'complete', log.join('\n'));
    assert.equal(h.db.lastCompletedRound(h.config.runId), 2);
    again.stop();
  } finally {
    await h.close();
  }
});
