// A site that answers queries but then never sends its metrics (stalled after replying, or hostile)
// must not hold each round for round_timeout_s: the others' run goes on at the straggler grace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDatabase } from '../../../server/run-database.ts';
import { Aggregator } from '../../../server/aggregator.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { SCRIPTED_PUBLIC_SET, ScriptedHub, scriptedRunConfig } from './scripted-hub.ts';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedistill-silent-'));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

/** Runs `config` to its end with `hub`'s sites connected at once: the summary, the aggregator's log and the wall time. */
async function runToEnd(config: ReturnType<typeof scriptedRunConfig>, hub: ScriptedHub): Promise<{ summary: Awaited<ReturnType<Aggregator['run']>>; log: string[]; ms: number }> {
  const db = new RunDatabase(config.database);
  const log: string[] = [];
  const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET, log: (l) => log.push(l) });
  const t0 = Date.now();
  const running = agg.run();
  hub.connect();
  const summary = await running;
  const ms = Date.now() - t0;
  db.close();
  return { summary, log, ms };
}

test('a participant that never sends metrics delays a round by straggler_grace_s, not round_timeout_s', withDir(async (dir) => {
  // round_timeout_s 4 per round: 3 rounds waiting it out would take 12 s
  const config = scriptedRunConfig(join(dir, 'run.db'), { rounds: 3, round_timeout_s: 4, straggler_grace_s: 0.2 });
  const { summary, log, ms: took } = await runToEnd(config, new ScriptedHub(3, undefined, ['site-3']));
  assert.equal(summary.status, 'complete');
  assert.ok(took < 3000, `3 rounds took ${took} ms`);
  for (const r of summary.rounds) {
    assert.deepEqual(r.participants, ['site-1', 'site-2', 'site-3'], 'the silent site still takes part');
    assert.deepEqual(Object.keys(r.siteMetrics).sort(), ['site-1', 'site-2']);
  }
  assert.equal(log.filter((l) => /no metrics from site-3 \(cut off 200 ms after a quorum/.test(l)).length, 3, log.join('\n'));
}));

test('every participant sending metrics ends the wait at once; none is reported missing', withDir(async (dir) => {
  const config = scriptedRunConfig(join(dir, 'run.db'), { rounds: 2, round_timeout_s: 4, straggler_grace_s: 3 });
  const { summary, log, ms } = await runToEnd(config, new ScriptedHub(3));
  assert.ok(ms < 2000);
  assert.deepEqual(Object.keys(summary.rounds[1]!.siteMetrics).sort(), ['site-1', 'site-2', 'site-3']);
  assert.ok(!log.some((l) => /no metrics/.test(l)), log.join('\n'));
}));
