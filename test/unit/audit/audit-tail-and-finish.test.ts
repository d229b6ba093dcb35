// What verify says about the end of a log: run_finished's ε is replayed, a log cut back to an earlier run_finished is flagged, a huge file is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli } from '../../../cli/main.ts';
import { loadAuditSource, MAX_AUDIT_EXPORT_BYTES } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { buildExtendedRun, EXT_RUN } from './extended-run-fixture.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

function verify(path: string) {
  const { log, close } = loadAuditSource(path);
  try { return verifyAuditLog(log); } finally { close(); }
}

test('run_finished\'s ε is replayed like every other reported ε: an understated final ε is E_AUDIT_EPSILON_MISMATCH', () => {
  const honest = buildExtendedRun();
  try {
    const v = verify(honest.dbPath);
    assert.equal(v.ok, true, v.problem?.message);
    assert.equal(v.finished, true);
  } finally { honest.close(); }
  // The aggregator's key signs a final ε a tenth of what its releases compose to.
  const f = buildExtendedRun({ finishEpsilon: (spent, which) => (which === 1 ? spent / 10 : spent) });
  try {
    for (const source of [f.dbPath, f.exportTo('x.jsonl')]) {
      const v = verify(source);
      assert.equal(v.ok, false);
      assert.equal(v.problem?.code, 'E_AUDIT_EPSILON_MISMATCH');
      assert.equal(v.problem?.seq, v.entries.length, 'names the run_finished entry');
      assert.match(v.problem!.message, /run_finished: reports the run's final ε = [\d.]+, its releases replay to ε = [\d.]+/);
    }
  } finally { f.close(); }
});

test('a database cut back to an earlier run_finished (its ledger rows too) verifies, but verify says the end is not protected', async () => {
  const f = buildExtendedRun();
  try {
    const before = await cli('audit', 'verify', f.dbPath, '--public-key', f.publicKey);
    assert.equal(before.code, 0, before.err);
    f.db.close();
    // The adversary with the disk: triggers dropped, the extension's entries and its ledger charge removed.
    const raw = new Database(f.dbPath);
    for (const t of raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger'`).all() as { name: string }[]) raw.exec(`DROP TRIGGER "${t.name}"`);
    raw.prepare('DELETE FROM audit_log WHERE run_id = ? AND seq > ?').run(EXT_RUN, f.firstFinishSeq);
    raw.prepare('DELETE FROM ledger WHERE scope = ? AND seq = (SELECT max(seq) FROM ledger WHERE scope = ?)').run(`run:${EXT_RUN}`, `run:${EXT_RUN}`);
    raw.close();
    const r = await cli('audit', 'verify', f.dbPath, '--public-key', f.publicKey);
    assert.equal(r.code, 0, 'nothing signed was altered: the cut cannot be shown');
    assert.match(r.out, /ledger table: agrees with the audit log/);
    assert.match(r.err, /note: the end of the log is not protected: a database has no signed chain head, and a finished run can be extended or retried, so a log cut back to a run_finished \(this one has 1\) would pass too/);
    const json = JSON.parse((await cli('audit', 'verify', f.dbPath, '--public-key', f.publicKey, '--json')).out);
    assert.equal(json.finished, true);
    assert.equal(json.head_signed, false, '--json says the head is unsigned');
  } finally { f.close(); }
});

test('the head-signed export of a finished run needs no tail note; a database without a ledger table says it was not cross-checked', async () => {
  const f = buildExtendedRun();
  try {
    const signed = f.exportTo('signed.jsonl');
    let r = await cli('audit', 'verify', signed, '--public-key', f.publicKey);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /note:/);
    f.db.close();
    const raw = new Database(f.dbPath);
    raw.exec('DROP TABLE ledger');
    raw.close();
    r = await cli('audit', 'verify', f.dbPath, '--public-key', f.publicKey);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /ledger table: none in this database, so not cross-checked/);
  } finally { f.close(); }
});

test('an export too large to read whole is E_AUDIT_BAD_FORMAT naming its size, not a file-not-found', async () => {
  const f = buildExtendedRun();
  try {
    const huge = join(f.dir, 'huge.jsonl');
    writeFileSync(huge, '');
    truncateSync(huge, MAX_AUDIT_EXPORT_BYTES + 1); // sparse: no disk used
    const r = await cli('audit', 'verify', huge, '--json');
    assert.equal(r.code, 1);
    const out = JSON.parse(r.out);
    assert.equal(out.error.code, 'E_AUDIT_BAD_FORMAT');
    assert.match(out.error.message, new RegExp(`is ${MAX_AUDIT_EXPORT_BYTES + 1} bytes; an export is read whole`));
  } finally { f.close(); }
});

test('a database whose signing key row was removed says so, instead of "no audit log" for a run it lists', async () => {
  const f = buildExtendedRun();
  try {
    f.db.close();
    const raw = new Database(f.dbPath);
    raw.exec('DELETE FROM audit_keys');
    raw.close();
    const r = await cli('audit', 'verify', f.dbPath, '--json');
    assert.equal(r.code, 1);
    const out = JSON.parse(r.out);
    assert.equal(out.error.code, 'E_AUDIT_RUN_NOT_FOUND');
    assert.match(out.error.message, /run "ext" has audit entries but no signing key in audit_keys/);
  } finally { f.close(); }
});
