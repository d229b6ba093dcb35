// Hostile sites against what the aggregator writes to its signed audit log: oversized privacy events, names that
// shadow Object.prototype, metrics for a round they were not part of. Every case: the run completes for the honest site.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportAuditLog, parseAuditExport } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { honestReply, hostileSite, startHostileRun } from './hostile-site-fixture.ts';

/** A privacy event that validates and weighs ~3 MB as JSON: 130,000 full-precision vote counts. */
function bloatedEvent(): Record<string, unknown> {
  const votes = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (1 + (i + seed) * 1.2345678901234e-13) * 1e300);
  return { type: 'composed', events: [{ type: 'pate_gnmax', sigma: 1, votes: votes(100_000, 0) }, { type: 'pate_gnmax', sigma: 1, votes: votes(30_000, 7) }] };
}

test('privacy events of megabytes are refused (E_REPLY_INVALID): three colluding sites cannot crash the release, one cannot bloat the signed log', { timeout: 60_000 }, async () => {
  const names = ['honest', 'bloat-1', 'bloat-2', 'bloat-3'];
  // every reply is awaited (a 3 MB one takes a while to arrive and decode on a busy machine): the
  // round ends when all four are in, so the refusals, not a straggler cut-off, are what is tested
  const h = await startHostileRun(names, { rounds: 1, round_timeout_s: 20, straggler_grace_s: 20 });
  const event = bloatedEvent();
  const sites = [await hostileSite(h, 'honest')];
  for (const n of names.slice(1)) sites.push(await hostileSite(h, n, (q) => ({ ...honestReply(q), privacyEvent: event })));
  try {
    // before the fix: the release entry passed the audit log's 8 MiB cap, the charge transaction threw and run() rejected
    const summary = await h.finish(30_000);
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.rounds[0]!.participants, ['honest']);
    for (const n of names.slice(1)) {
      assert.ok(summary.rounds[0]!.failures.some((f) => f.site === n && f.reason === 'invalid' && /privacyEvent/.test(f.detail ?? '')), JSON.stringify(summary.rounds[0]!.failures));
    }
    assert.ok(JSON.stringify(h.audit.entries('hostile-run')).length < 100_000, 'the log holds no site\'s megabytes');
    assert.equal(verifyAuditLog(parseAuditExport(exportAuditLog(h.store, 'hostile-run'))).ok, true);
  } finally {
    for (const s of sites) s.client.close();
    await h.close();
  }
});

test('a site allowlisted as "toString" that sends no privacy event is aggregated without crashing the release', async () => {
  // site names are chosen by site operators; "toString", "constructor", "valueOf" match the site-name
  // pattern. Allowlist files now refuse them; the aggregator must cope anyway (the fixture bypasses the file check)
  const h = await startHostileRun(['honest', 'toString', 'constructor'], { rounds: 2, quorum: 3 });
  const sites = [
    await hostileSite(h, 'honest', (q) => ({ ...honestReply(q), privacyEvent: { type: 'pate_gnmax', sigma: 0.5 } })),
    await hostileSite(h, 'toString'),
    await hostileSite(h, 'constructor'),
  ];
  try {
    // before the fix: siteEvents['toString'] read Object.prototype.toString, which the release record refused: run() rejected
    const summary = await h.finish();
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.rounds.map((r) => r.participants), [['constructor', 'honest', 'toString'], ['constructor', 'honest', 'toString']]);
    assert.ok(Object.hasOwn(summary.bytes, 'toString') && Object.hasOwn(summary.bytes, 'constructor'), JSON.stringify(summary.bytes));
    assert.ok(summary.bytes['constructor' as string]!.received > 0);
    assert.equal((Object as unknown as { sent?: unknown }).sent, undefined, 'no traffic counter was written onto the global Object');
    const v = verifyAuditLog(parseAuditExport(exportAuditLog(h.store, 'hostile-run')));
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    const releases = h.audit.entries('hostile-run').filter((e) => e.kind === 'release');
    for (const r of releases) assert.deepEqual(Object.keys((r.data as { site_events?: object }).site_events ?? {}), ['honest']);
  } finally {
    for (const s of sites) s.client.close();
    await h.close();
  }
});

test('metrics from a site whose reply was refused are not accepted for the round, not stored, not in its round_result', async () => {
  const h = await startHostileRun(['honest', 'outsider'], { rounds: 2 });
  // the honest site's metrics come 150 ms after each consensus: the round's metrics window stays open while the outsider spams
  const honest = await hostileSite(h, 'honest', undefined, { metricsDelayMs: 150 });
  // the outsider's replies are all refused (2 votes per row, 1 teacher); it reports metrics for every round anyway
  const outsider = await hostileSite(h, 'outsider', (q) => ({ ...honestReply(q), votes: honestReply(q, 2).votes }));
  const refused: string[] = [];
  outsider.session.on('message', (m) => { if (m.type === 'error' && m.code === 'E_METRICS_REFUSED') refused.push(m.message); });
  const spam = setInterval(() => {
    if (!outsider.session.isOpen) return;
    for (const round of [0, 1]) outsider.client.send({ type: 'metrics', round, values: { accuracy: 1 } });
  }, 5);
  try {
    const summary = await h.finish();
    clearInterval(spam);
    assert.equal(summary.status, 'complete');
    assert.deepEqual(summary.rounds.map((r) => r.participants), [['honest'], ['honest']]);
    assert.deepEqual(h.db.metrics('hostile-run').filter((m) => m.source === 'site:outsider'), []);
    for (const r of summary.rounds) assert.deepEqual(Object.keys(r.siteMetrics), ['honest']);
    const results = h.audit.entries('hostile-run').filter((e) => e.kind === 'round_result');
    for (const e of results) assert.deepEqual(Object.keys((e.data as { site_metrics: object }).site_metrics), ['honest']);
    // the signed result names the site whose reply it refused (audit compare reads it: recorded by the site, not aggregated)
    for (const e of results) assert.deepEqual((e.data as { failures?: unknown }).failures, [{ site: 'outsider', reason: 'invalid' }]);
    assert.ok(refused.some((m) => /not a participant/.test(m)), refused.slice(0, 3).join('\n'));
  } finally {
    clearInterval(spam);
    honest.client.close(); outsider.client.close();
    await h.close();
  }
});
