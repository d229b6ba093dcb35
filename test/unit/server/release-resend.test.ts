// A release recorded before a crash is re-sent byte for byte: the stored payload decodes to the consensus first sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDatabase } from '../../../server/run-database.ts';
import { Aggregator } from '../../../server/aggregator.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { SCRIPTED_PUBLIC_SET, ScriptedHub, scriptedRunConfig } from './scripted-hub.ts';

type Sent = { type: string; indices?: Uint32Array; soft?: Float32Array; labels?: Int32Array };
const consensusOf = (hub: ScriptedHub) => (hub.session('site-1') as unknown as { sent: Sent[] }).sent.find((m) => m.type === 'consensus')!;

for (const strategy of ['dsfl', 'pate'] as const) {
  test(`${strategy}: a round released but not completed before a restart re-sends the stored consensus unchanged`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedistill-resend-'));
    try {
      const db = new RunDatabase(join(dir, 'run.db'));
      // 37 queries: payload lengths that are not multiples of 4, odd offsets inside the payload
      const config = scriptedRunConfig(join(dir, 'run.db'), {
        rounds: 1, strategy: strategy === 'pate' ? { name: 'pate', queries_per_round: 37, threshold: 0, sigma1: 0.05, sigma2: 0.05 } : { name: 'dsfl', queries_per_round: 37 },
      });
      const answer = strategy === 'pate' ? (_site: string, q: { indices: Uint32Array }, honest: unknown) => {
        const votes = new Int32Array(q.indices.length * SCRIPTED_PUBLIC_SET.numClasses);
        q.indices.forEach((idx, r) => { votes[r * SCRIPTED_PUBLIC_SET.numClasses + (idx % SCRIPTED_PUBLIC_SET.numClasses)] = 1; });
        const { soft: _s, ...rest } = honest as Record<string, unknown>;
        return { ...rest, replyKind: 'vote_histogram', votes } as never;
      } : undefined;
      const hub1 = new ScriptedHub(2, answer);
      const first = new Aggregator({ db, config, strategy: strategyFor(config), hub: hub1, publicSet: SCRIPTED_PUBLIC_SET });
      const running = first.run();
      hub1.connect();
      assert.equal((await running).status, 'complete');
      const sent = consensusOf(hub1);
      // as if the aggregator died after the release transaction, before the round was marked complete
      db.sqlite.prepare(`UPDATE rounds SET status = 'released' WHERE run_id = ? AND round = 0`).run(config.runId);
      db.setRunStatus(config.runId, 'running');
      const log: string[] = [];
      const hub2 = new ScriptedHub(2, answer);
      const second = new Aggregator({ db, config, strategy: strategyFor(config), hub: hub2, publicSet: SCRIPTED_PUBLIC_SET, log: (l) => log.push(l) });
      const again = second.run();
      hub2.connect();
      assert.equal((await again).status, 'complete');
      assert.ok(log.some((l) => /re-sending it/.test(l)), log.join('\n'));
      assert.equal(hub2.asked.size, 0, 'nothing is asked again');
      const resent = consensusOf(hub2);
      assert.deepEqual([...resent.indices!], [...sent.indices!]);
      if (strategy === 'pate') assert.deepEqual([...resent.labels!], [...sent.labels!]);
      else assert.deepEqual([...resent.soft!], [...sent.soft!]);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Runs `config` to its end, then puts it back as if the aggregator was killed after `round`'s consensus went out, before the round was marked complete. */
async function crashAfterRelease(db: RunDatabase, config: ReturnType<typeof scriptedRunConfig>, sites: number, round: number): Promise<void> {
  const hub = new ScriptedHub(sites);
  const first = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET });
  const running = first.run();
  hub.connect();
  assert.equal((await running).status, 'complete');
  db.sqlite.prepare(`UPDATE rounds SET status = 'released' WHERE run_id = ? AND round = ?`).run(config.runId, round);
  db.setRunStatus(config.runId, 'running');
}

test('the last round released before a crash completes on restart even when no site rejoins (they digested it and exited)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-resend-last-'));
  try {
    const db = new RunDatabase(join(dir, 'run.db'));
    const config = scriptedRunConfig(join(dir, 'run.db'), { rounds: 2, join_timeout_s: 1 });
    await crashAfterRelease(db, config, 2, 1); // killed after the last consensus went out
    const log: string[] = [];
    const hub2 = new ScriptedHub(2); // never connects: the sites ended their run
    const second = new Aggregator({ db, config, strategy: strategyFor(config), hub: hub2, publicSet: SCRIPTED_PUBLIC_SET, log: (l) => log.push(l) });
    const summary = await second.run();
    assert.equal(summary.status, 'complete', log.join('\n'));
    assert.deepEqual(summary.rounds.map((r) => [r.round, r.resumed]), [[1, true]]);
    assert.ok(log.some((l) => /round 2: release found in the database; re-sending it to 0 of its 2 participant\(s\) \(site-1, site-2 did not rejoin/.test(l)), log.join('\n'));
    assert.equal(db.lastCompletedRound(config.runId), 1);
    assert.equal(db.getRun(config.runId)!.status, 'complete');
    assert.equal(db.ledgerEntries('run:crash').length, 2, 'nothing charged again');
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a round released mid-run is re-sent to the participants that rejoin; the next round still waits for min_sites', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-resend-mid-'));
  try {
    const db = new RunDatabase(join(dir, 'run.db'));
    const config = scriptedRunConfig(join(dir, 'run.db'), { rounds: 1, quorum: 1, min_sites: 1, join_timeout_s: 1 });
    await crashAfterRelease(db, config, 1, 0);
    // Restarted with one more round and min_sites 2 (quorum 1): round 1 goes to its one participant
    // at once; round 2 is new, and waits for min_sites (site-2 joins 300 ms later) before it asks.
    const more = scriptedRunConfig(join(dir, 'run.db'), { rounds: 2, quorum: 1, min_sites: 2, join_timeout_s: 5 });
    const hub2 = new ScriptedHub(2);
    const second = new Aggregator({ db, config: more, strategy: strategyFor(more), hub: hub2, publicSet: SCRIPTED_PUBLIC_SET });
    const again = second.run();
    hub2.reconnect('site-1');
    const late = setTimeout(() => hub2.reconnect('site-2'), 300);
    const summary = await again;
    clearTimeout(late);
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.rounds.map((r) => [r.round, r.resumed, r.participants]), [[0, true, ['site-1']], [1, false, ['site-1', 'site-2']]]);
    assert.deepEqual(Object.fromEntries(hub2.asked), { 'site-1': 1, 'site-2': 1 }, 'only round 2 is asked');
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
