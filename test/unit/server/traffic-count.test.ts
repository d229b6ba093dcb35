// The run summary counts every site's traffic, including a session that is closing as the run ends (its close event not yet fired).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDatabase } from '../../../server/run-database.ts';
import { Aggregator } from '../../../server/aggregator.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { SCRIPTED_PUBLIC_SET, ScriptedHub, scriptedRunConfig } from './scripted-hub.ts';

test('bytes per site: a session that went non-open at the last consensus, with no close event yet, is still counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-bytes-'));
  try {
    const db = new RunDatabase(join(dir, 'run.db'));
    const config = scriptedRunConfig(join(dir, 'run.db'), { rounds: 2 });
    const hub = new ScriptedHub(2);
    const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET });
    const running = agg.run();
    hub.connect();
    for (const [i, name] of ['site-1', 'site-2'].entries()) {
      const s = hub.session(name) as unknown as { stats: { bytesIn: number; bytesOut: number }; isOpen: boolean; send(m: { type: string; round?: number }): void };
      Object.assign(s.stats, { bytesIn: 1000 * (i + 1), bytesOut: 3000 * (i + 1) });
      if (name === 'site-2') {
        // the site hangs up as the last consensus goes out: isOpen turns false before any close event
        const send = s.send.bind(s);
        s.send = (m) => { send(m); if (m.type === 'consensus' && m.round === 1) s.isOpen = false; };
      }
    }
    const summary = await running;
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.bytes, { 'site-1': { sent: 3000, received: 1000 }, 'site-2': { sent: 6000, received: 2000 } });
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
