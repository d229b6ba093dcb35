// The aggregator's SQLite store: ledger charges and releases in one transaction, durable across reopen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDatabase } from '../../../server/run-database.ts';
import { PrivacyLedger } from '../../../shared/privacy/ledger.ts';
import { RdpAccountant } from '../../../shared/privacy/rdp-accountant.ts';

function tempDb(): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-db-'));
  return { path: join(dir, 'run.db'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a charge and its release commit together; a refused charge records nothing', () => {
  const t = tempDb();
  try {
    const db = new RunDatabase(t.path);
    db.createRun('r1', '{}', 'h');
    const ledger = new PrivacyLedger(db);
    ledger.setBudget('run:r1', { epsilon: 3, delta: 1e-5 });
    const event = { type: 'gaussian', noise_multiplier: 10, count: 5 } as const;
    for (let round = 0; ; round++) {
      db.startRound('r1', round);
      const res = db.transaction(() => {
        const c = ledger.tryCharge(event, { scope: 'run:r1', note: `round ${round}` });
        if (c.status === 'accepted') db.insertRelease('r1', round, 'soft', Uint8Array.of(round), { round }, ['a']);
        return c;
      });
      if (res.status === 'refused') {
        assert.ok(res.projectedEpsilon > 3);
        assert.equal(db.getRelease('r1', round), undefined);
        assert.equal(db.ledgerEntries('run:r1').length, round);
        break;
      }
      assert.ok(round < 100, 'budget must run out');
    }
    const n = db.ledgerEntries('run:r1').length;
    assert.ok(n >= 2, `several rounds fit the budget, got ${n}`);
    db.close();

    // Reopen: everything acknowledged is still there, and the ε replays from the events.
    const again = new RunDatabase(t.path);
    assert.equal(again.releases('r1').length, n);
    assert.equal(again.lastReleasedRound('r1'), n - 1);
    const replay = new RdpAccountant();
    for (const e of again.ledgerEntries('run:r1')) replay.compose(e.event);
    const spent = new PrivacyLedger(again).spent('run:r1');
    assert.equal(spent.epsilon, replay.getEpsilon(1e-5).epsilon);
    assert.ok(spent.epsilon <= 3);
    again.close();
  } finally {
    t.done();
  }
});

test('a round cannot be released twice', () => {
  const t = tempDb();
  try {
    const db = new RunDatabase(t.path);
    db.createRun('r', '{}', 'h');
    db.startRound('r', 0);
    db.insertRelease('r', 0, 'soft', Uint8Array.of(1), {}, []);
    assert.throws(() => db.insertRelease('r', 0, 'soft', Uint8Array.of(2), {}, []), /UNIQUE/);
    assert.deepEqual([...db.getRelease('r', 0)!.payload], [1]);
    db.close();
  } finally {
    t.done();
  }
});

test('metrics and checkpoints round-trip', () => {
  const t = tempDb();
  try {
    const db = new RunDatabase(t.path);
    db.putMetrics('r', 1, 'site-a', { accuracy: 0.9, loss: 0.3, bad: NaN });
    db.putMetrics('r', 1, 'site-a', { accuracy: 0.95 });
    assert.deepEqual(db.metrics('r'), [
      { round: 1, source: 'site-a', name: 'accuracy', value: 0.95 },
      { round: 1, source: 'site-a', name: 'loss', value: 0.3 },
    ]);
    db.putCheckpoint('r', 'student', 2, Uint8Array.of(1, 2, 3));
    assert.deepEqual([...db.getCheckpoint('r', 'student')!.blob], [1, 2, 3]);
    db.close();
  } finally {
    t.done();
  }
});
