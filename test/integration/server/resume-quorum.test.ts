// min_sites is the wait before round 1. A run restarted after its rounds began waits for min_sites only as
// long as live sites take to reconnect (60 s, or join_timeout_s if shorter), then goes on with quorum: a
// site removed from the allowlist meanwhile (docs/runs.md's advice for a failing site), or one still down,
// used to stall the restart until join_timeout_s and fail E_QUORUM_TIMEOUT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../../server/aggregator.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import type { RunConfig } from '../../../server/run-config.ts';
import { type HostileHarness, honestReply, hostileSite, PUBLIC_SET, startHostileRun } from './hostile-site-fixture.ts';

const NAMES = ['site-a', 'site-b', 'site-c'];
/** quorum 2, min_sites 3, and a join wait of 2 s: a wait for min_sites with two sites back fails quickly. */
const SETTINGS = { quorum: 2, min_sites: 3, join_timeout_s: 2 };

/** A new aggregator for `config` on the harness's database, and two of the three sites joining it (quorum, not min_sites). */
async function restartWithTwo(h: HostileHarness, config: RunConfig) {
  const log: string[] = [];
  const aggregator = new Aggregator({ db: h.db, config, strategy: strategyFor(config), hub: h.server, publicSet: PUBLIC_SET, audit: h.audit, log: (l) => log.push(l) });
  const running = aggregator.run();
  running.catch(() => {});
  const sites = await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
  return { aggregator, running, log, sites };
}

/** A one-round run that all three sites complete, then leave (as sites do at a run's end). */
async function completedRun(): Promise<HostileHarness> {
  const h = await startHostileRun(NAMES, { rounds: 1, ...SETTINGS });
  const sites = await Promise.all(NAMES.map((n) => hostileSite(h, n)));
  assert.equal((await h.finish()).status, 'complete');
  for (const s of sites) s.client.close();
  return h;
}

test('a run restarted after round 1 goes on with quorum sites once min_sites has had its time', { timeout: 30_000 }, async () => {
  const h = await startHostileRun(NAMES, { rounds: 2, ...SETTINGS });
  try {
    // round 1 is answered; round 2's queries are not, so the stop lands inside it, before its release
    const sites = await Promise.all(NAMES.map((n) => hostileSite(h, n, (q) => (q.round === 0 ? honestReply(q) : undefined))));
    while (sites.some((s) => s.consensus.length === 0) || sites.some((s) => s.queries.every((q) => q.round === 0))) await new Promise((r) => setTimeout(r, 20));
    h.aggregator.stop();
    assert.equal((await h.finish()).status, 'stopped');
    assert.equal(h.db.lastCompletedRound(h.config.runId), 0);
    for (const s of sites) s.client.close();
    // two of the three come back (quorum 2, min_sites 3)
    const again = await restartWithTwo(h, h.config);
    const summary = await again.running; // join_timeout_s is 2: waiting for min_sites threw E_QUORUM_TIMEOUT
    assert.equal(summary.status, 'complete', again.log.join('\n'));
    assert.equal(h.db.lastCompletedRound(h.config.runId), 1);
    assert.ok(again.log.some((l) => l.startsWith('going on with 2 of min_sites 3 sites after 2 s (quorum 2)')), again.log.join('\n'));
    again.aggregator.stop();
  } finally {
    await h.close();
  }
});

test('a completed run extended with more rounds waits for min_sites, as before round 1: its sites exited at its end and are started again by hand', { timeout: 30_000 }, async () => {
  const h = await completedRun();
  try {
    const again = await restartWithTwo(h, { ...h.config, rounds: 2 });
    // two of three within join_timeout_s (2 s): not enough for min_sites 3, so no round 2 with only them
    await assert.rejects(again.running, { code: 'E_QUORUM_TIMEOUT' });
    assert.ok(again.log.some((l) => /completed 1 round\(s\); extending it to 2/.test(l)), again.log.join('\n'));
    assert.equal(h.db.lastCompletedRound(h.config.runId), 0);
  } finally {
    await h.close();
  }
});

test('an extension cut short (here its wait for min_sites failed; kill -9 leaves the same) restarts as a stopped run: the short wait, then quorum', { timeout: 30_000 }, async () => {
  const h = await completedRun();
  try {
    // extended to 3 rounds, with two of the three sites back: it waits for min_sites 3 and fails
    const more = { ...h.config, rounds: 3 };
    const extension = await restartWithTwo(h, more);
    await assert.rejects(extension.running, { code: 'E_QUORUM_TIMEOUT' });
    for (const s of extension.sites) s.client.close();
    assert.equal(h.db.getRun(h.config.runId)!.status, 'running', 'not complete while its extension is unfinished');
    // restarted: a stopped run's short wait, then quorum (it was taken for a fresh extension, and failed again)
    const again = await restartWithTwo(h, more);
    assert.equal((await again.running).status, 'complete', again.log.join('\n'));
    assert.equal(h.db.lastCompletedRound(h.config.runId), 2);
    again.aggregator.stop();
  } finally {
    await h.close();
  }
});
