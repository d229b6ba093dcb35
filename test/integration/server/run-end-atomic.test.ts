// A run's end and its run_finished audit entry are written together. A stop between the two writes
// (kill -9) used to leave an ended run whose log was never finished: every restart found it ended,
// with nothing to do, and `audit verify` could not vouch for the log's end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FedistillError } from '../../../shared/util/errors.ts';
import { databaseError } from '../../../server/run-database.ts';
import { failAuditAppend, honestReply, hostileSite, restartAggregator, startHostileRun, type HostileHarness } from './hostile-site-fixture.ts';

const restart = restartAggregator;

const finishedEntries = (h: HostileHarness) => h.audit.entries(h.config.runId).filter((e) => e.kind === 'run_finished').map((e) => (e.data as { status: string }).status);

test('a run_finished entry that cannot be written leaves the run unended (not ended without it); a restart ends it with the entry', { timeout: 30_000 }, async () => {
  const h = await startHostileRun(['site-a', 'site-b'], { rounds: 1, quorum: 2, join_timeout_s: 2 });
  const restore = failAuditAppend(h, 'run_finished');
  try {
    const sites = await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    await assert.rejects(h.finish(), /disk I\/O error/);
    // the status write was rolled back with the failed entry: the run is not taken for ended
    assert.equal(h.db.getRun(h.config.runId)?.status, 'running');
    assert.deepEqual(finishedEntries(h), []);
    for (const s of sites) s.client.close();
    restore();
    const log: string[] = [];
    const summary = await restart(h, log);
    assert.equal(summary.status, 'complete', log.join('\n'));
    assert.equal(h.db.getRun(h.config.runId)?.status, 'complete');
    assert.deepEqual(finishedEntries(h), ['complete']);
    assert.equal(h.audit.entries(h.config.runId).at(-1)?.kind, 'run_finished');
  } finally {
    restore();
    await h.close();
  }
});

test('an ended run whose log lacks run_finished (an older build stopped between the writes) gets it on restart, once', { timeout: 30_000 }, async () => {
  const h = await startHostileRun(['site-a', 'site-b'], { rounds: 1, quorum: 2, join_timeout_s: 2 });
  try {
    const sites = await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    assert.equal((await h.finish()).status, 'complete');
    for (const s of sites) s.client.close();
    // the state such a stop left: the run ended in the database, its last audit entry not written
    const last = h.audit.entries(h.config.runId).at(-1)!;
    assert.equal(last.kind, 'run_finished');
    // (the log is append-only: its trigger is lifted for this, as no aggregator does)
    h.db.sqlite.exec('DROP TRIGGER audit_log_no_delete');
    h.db.sqlite.prepare('DELETE FROM audit_log WHERE run_id = ? AND seq = ?').run(h.config.runId, last.seq);
    assert.deepEqual(finishedEntries(h), []);
    const log: string[] = [];
    assert.equal((await restart(h, log)).status, 'complete');
    assert.ok(log.some((l) => /lacked the run_finished entry .*written now/.test(l)), log.join('\n'));
    assert.deepEqual(finishedEntries(h), ['complete']);
    // the entry chains onto the log's head as any other
    const entries = h.audit.entries(h.config.runId);
    assert.equal(entries.at(-1)!.prev_hash, entries.at(-2)!.hash);
    // a second restart finds it there: nothing written again
    assert.equal((await restart(h, [])).status, 'complete');
    assert.deepEqual(finishedEntries(h), ['complete']);
  } finally {
    await h.close();
  }
});

test('a database write that fails while a site joins stops the run with E_DB_WRITE, instead of leaving the join unanswered until E_QUORUM_TIMEOUT', { timeout: 30_000 }, async () => {
  // join_timeout_s far beyond the test's timeout: only the failure itself can end the run in time
  const h = await startHostileRun(['site-a', 'site-b'], { rounds: 1, quorum: 2, join_timeout_s: 600 });
  // SQLite's own refusal, as a full disk or an I/O error gives it (not a ready-made E_DB_WRITE)
  h.db.sqlite.pragma('query_only = ON');
  try {
    // its join is never welcomed: left pending, closed with the server below
    void hostileSite(h, 'site-a').catch(() => undefined);
    const e = await h.finish(20_000).then(() => undefined, (x: unknown) => x);
    assert.match(String((e as { code?: unknown })?.code), /^SQLITE_READONLY/, String(e));
    assert.ok(h.log.some((l) => /message from site-a failed: /.test(l)), h.log.join('\n'));
    // what `fedistill server` prints of it: one line with its stable code
    assert.equal((databaseError(e, 'fedistill.db') as FedistillError).code, 'E_DB_WRITE');
  } finally {
    h.db.sqlite.pragma('query_only = OFF');
    await h.close();
  }
});

test('a release re-sent after a crash keeps its attempt\'s failures: the round\'s signed result still names the site whose reply was not aggregated', { timeout: 30_000 }, async () => {
  const h = await startHostileRun(['site-a', 'site-b', 'site-c'], { rounds: 1, quorum: 2, join_timeout_s: 2 });
  // the crash: after the release committed, before the round's result was written
  const restore = failAuditAppend(h, 'round_result');
  try {
    const sites = await Promise.all([
      hostileSite(h, 'site-a'), hostileSite(h, 'site-b'),
      // two votes per row from one teacher: refused as invalid, so site-c is among the round's failures
      hostileSite(h, 'site-c', (q) => ({ ...honestReply(q), votes: honestReply(q, 2).votes })),
    ]);
    await assert.rejects(h.finish(), /disk I\/O error/);
    assert.ok(h.db.getRelease(h.config.runId, 0), 'the round was released');
    assert.deepEqual(h.audit.entries(h.config.runId).filter((e) => e.kind === 'round_result'), []);
    restore();
    const log: string[] = [];
    const summary = await restart(h, log);
    assert.equal(summary.status, 'complete', log.join('\n'));
    assert.ok(log.some((l) => /release found in the database; re-sending it/.test(l)), log.join('\n'));
    const results = h.audit.entries(h.config.runId).filter((e) => e.kind === 'round_result');
    assert.deepEqual(results.map((e) => (e.data as { failures?: unknown }).failures), [[{ site: 'site-c', reason: 'invalid' }]]);
    for (const s of sites) s.client.close();
  } finally {
    restore();
    await h.close();
  }
});
