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
