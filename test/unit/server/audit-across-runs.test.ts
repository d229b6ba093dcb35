// Two runs on one aggregator database with the same sites: each run's audit log verifies on its own, because a site's
// earlier charges are carried into the log before its first release there (its ε is cumulative: same data, every run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDatabase } from '../../../server/run-database.ts';
import { Aggregator } from '../../../server/aggregator.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { exportAuditLog, parseAuditExport } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { compareSiteLedger } from '../../../shared/audit/audit-compare.ts';
import { centralReleaseSensitivity, gaussianRowsCharge } from '../../../shared/privacy/soft-labels.ts';
import { buildAuditReport, formatAuditReportText } from '../../../shared/audit/audit-report.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';
import { dpAccountingOrders } from '../../../shared/privacy/orders.ts';
import { SCRIPTED_PUBLIC_SET, ScriptedHub, scriptedRunConfig } from './scripted-hub.ts';
import type { ReplyMessage } from '../../../protocols/messages.ts';

test('a second run on the same database verifies: site scopes carry their earlier charges into the run\'s log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-two-runs-'));
  try {
    const db = new RunDatabase(join(dir, 'run.db'));
    const store = new SqliteAuditStore(db.sqlite);
    const audit = new AuditLog(store, generateIdentity());
    const summaries = [];
    for (const runId of ['study-1', 'study-2']) {
      const config = scriptedRunConfig(db.path ?? join(dir, 'run.db'), { run_id: runId, rounds: 2 });
      // each site sends the event a real site records for central noise (the run's z 5, clip 1, 10 classes, one teacher)
      const hub = new ScriptedHub(2, (_site, q, honest) => ({ ...honest, privacyEvent: gaussianRowsCharge(5, centralReleaseSensitivity(1, 10, 1), q.indices.length) as unknown as Record<string, unknown> }) as ReplyMessage);
      const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET, audit });
      const running = agg.run();
      hub.connect();
      summaries.push(await running);
    }
    assert.deepEqual(summaries.map((s) => s.status), ['complete', 'complete']);
    const results = ['study-1', 'study-2'].map((runId) => verifyAuditLog(parseAuditExport(exportAuditLog(store, runId))));
    for (const r of results) assert.equal(r.ok, true, JSON.stringify(r.problem));
    const [first, second] = results;
    // run_started spells out the accountant's settings, so the log does not depend on defaults.
    assert.deepEqual(first!.accounting, { orders: dpAccountingOrders(), conversion: 'improved' });
    // ... and the privacy unit, which every report must state: one teacher per site is the site-level unit.
    assert.deepEqual(first!.privacyUnit, { unit: 'site', teachers_per_site: 1 });
    assert.match(formatAuditReportText(buildAuditReport(first!)).join('\n'), /^privacy unit: site-level \(one teacher per site/m);
    // Run 1 starts every site from nothing; run 2 carries run 1's two releases per site.
    assert.deepEqual(Object.keys(first!.carried), []);
    assert.deepEqual(Object.keys(second!.carried).sort(), ['site:site-1', 'site:site-2']);
    const last = (r: typeof first) => r!.releases.at(-1)!.epsilon['site:site-1']!;
    assert.ok(last(second) > last(first), `a site's ε keeps growing across runs: ${last(first)} then ${last(second)}`);
    // Verify replayed run 2's site scopes from the carried charges: above the run's own scope,
    // which saw the same releases but nothing before them.
    const firstRelease = second!.releases[0]!.epsilon;
    assert.ok(firstRelease['site:site-1']! > firstRelease['run:study-2']! * 1.5, JSON.stringify(firstRelease));
    // A site checks run 2's log against its ledger's run-2 entries: like for like, not against the
    // cumulative ε (it failed every honest site of a second run with E_AUDIT_SITE_EPSILON).
    const ledger = second!.releases.filter((r) => r.data.site_events?.['site-1'] !== undefined)
      .map((r) => ({ runId: 'study-2', round: r.round!, requestId: `study-2.r${r.round}.site-1`, event: r.data.site_events!['site-1'], noise: 'central' as const }));
    assert.ok(ledger.length > 0);
    const c = compareSiteLedger(ledger, second!);
    assert.equal(c.ok, true, JSON.stringify(c.problems));
    assert.equal(c.aggregator_epsilon_cumulative, last(second));
    assert.ok(c.aggregator_epsilon! < c.aggregator_epsilon_cumulative!, `${c.aggregator_epsilon} < ${c.aggregator_epsilon_cumulative}`);
    assert.ok(c.site_epsilon! >= c.aggregator_epsilon! * (1 - 1e-9), `${c.site_epsilon} ≥ ${c.aggregator_epsilon}`);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
