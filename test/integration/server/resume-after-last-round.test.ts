// Ctrl-C while the last round's consensus goes out: the round completes, the run is kept resumable ('running').
// Restarted after the sites digested it and exited, the run has no round left: it must end complete at once
// (run_finished in the audit log), not wait for sites that will never come and fail E_QUORUM_TIMEOUT for ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../../server/aggregator.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { hostileSite, PUBLIC_SET, startHostileRun } from './hostile-site-fixture.ts';

test('a run stopped during its last round\'s broadcast, restarted with no site left, ends complete at once', { timeout: 30_000 }, async () => {
  const h = await startHostileRun(['site-a', 'site-b'], { rounds: 1, quorum: 2, join_timeout_s: 2 });
  try {
    // the sites send their metrics late: the aggregator is still waiting for them when it is stopped
    const sites = await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n, undefined, { metricsDelayMs: 1500 })));
    while (sites.some((s) => s.consensus.length === 0)) await new Promise((r) => setTimeout(r, 20));
    h.aggregator.stop();
    const first = await h.finish();
    assert.equal(first.status, 'stopped');
    assert.equal(h.db.getRun(h.config.runId)?.status, 'running');
    assert.equal(h.db.lastCompletedRound(h.config.runId), 0);
    for (const s of sites) s.client.close();
    const log: string[] = [];
    const again = new Aggregator({ db: h.db, config: h.config, strategy: strategyFor(h.config), hub: h.server, publicSet: PUBLIC_SET, audit: h.audit, log: (l) => log.push(l) });
    const summary = await again.run(); // join_timeout_s is 2: waiting for sites would throw E_QUORUM_TIMEOUT
    assert.equal(summary.status, 'complete', log.join('\n'));
    assert.equal(h.db.getRun(h.config.runId)?.status, 'complete');
    const finished = h.audit.entries(h.config.runId).filter((e) => e.kind === 'run_finished');
    assert.deepEqual(finished.map((e) => (e.data as { status: string }).status), ['complete']);
  } finally {
    await h.close();
  }
});
