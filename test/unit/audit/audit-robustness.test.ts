// Verify on damaged or dishonest inputs: a non-JSON ledger row, a file that only looks like SQLite, a release over budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { exportAuditLog, loadAuditSource, parseAuditExport } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { epsilonFromEvents } from '../../../shared/privacy/rdp-accountant.ts';
import { FedistillError } from '../../../shared/util/errors.ts';
import { buildAuditRun } from './audit-fixture.ts';

function verifyPath(path: string) {
  const s = loadAuditSource(path);
  try { return verifyAuditLog(s.log); } finally { s.close(); }
}

test('a ledger row that is not JSON is a ledger mismatch, not a crash', () => {
  const f = buildAuditRun();
  try {
    f.db.sqlite.prepare(`UPDATE ledger SET event_json = 'not json{' WHERE scope = 'run:r1' AND seq = 0`).run();
    const v = verifyPath(f.dbPath);
    assert.equal(v.ok, false);
    assert.equal(v.problem?.code, 'E_AUDIT_LEDGER_MISMATCH');
  } finally {
    f.close();
  }
});

test('a file with the SQLite magic but no database behind it is E_DB_OPEN, for verify and export alike', async () => {
  const f = buildAuditRun();
  try {
    const fake = join(f.dir, 'fake.db');
    writeFileSync(fake, Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), Buffer.alloc(4096, 0x41)]));
    assert.throws(() => verifyPath(fake), (e: unknown) => e instanceof FedistillError && e.code === 'E_DB_OPEN');
    let out = '';
    const code = await runCli(['audit', 'export', fake, '--out', join(f.dir, 'x.jsonl'), '--json'], { out: (t) => { out += t; }, err: () => {} });
    assert.equal(code, 1);
    assert.equal(JSON.parse(out).error.code, 'E_DB_OPEN', out);
  } finally {
    f.close();
  }
});

test('a signed release whose replayed ε exceeds the scope\'s budget fails with E_AUDIT_OVER_BUDGET', () => {
  const f = buildAuditRun();
  try {
    const runId = 'greedy';
    const budget = { epsilon: 3.5, delta: 1e-5 };
    f.auditLog.append({ kind: 'run_started', runId, data: { budgets: { 'run:greedy': budget }, delta: budget.delta } });
    const event = { type: 'gaussian', noise_multiplier: 2 } as const;
    const events = [event];
    // Honest ε reports, each signed: the first two fit (ε ≈ 2.17, 3.19), the third (4.01) does not.
    for (let round = 0; round < 3; round++) {
      const eps = epsilonFromEvents(Array.from({ length: round + 1 }, () => event), budget.delta).epsilon;
      // One row, clip 1, noise std 2√2 over the replace-one sensitivity √2: what the event charges.
      const mechanism = { kind: 'gaussian_rows', rows: 1, clip: 1, noise_std: 2 * Math.SQRT2, sensitivity: Math.SQRT2, domain: 'probabilities', adjacency: 'replace-one' };
      f.auditLog.append({ kind: 'release', runId, round, data: { privacy_events: events, scopes: ['run:greedy'], epsilon_after: { 'run:greedy': eps }, mechanism } });
    }
    assert.ok(epsilonFromEvents([event], 1e-5).epsilon < budget.epsilon);
    const v = verifyAuditLog(parseAuditExport(exportAuditLog(f.store, runId), 'greedy'));
    assert.equal(v.ok, false);
    assert.equal(v.problem?.code, 'E_AUDIT_OVER_BUDGET');
    const over = [1, 2, 3].findIndex((n) => epsilonFromEvents(Array.from({ length: n }, () => event), 1e-5).epsilon > budget.epsilon);
    assert.equal(v.problem?.seq, 1 + over, 'the first release over budget is named');
    assert.equal(v.releases.length, over, 'releases before it verified');
  } finally {
    f.close();
  }
});
