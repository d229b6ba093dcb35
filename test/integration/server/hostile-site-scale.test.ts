// Many authenticated sites that each send the most the wire allows for what lands in one signed audit entry:
// the round's entries stay under the audit log's cap, the run completes, and nothing the sites sent is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportAuditLog, parseAuditExport } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { canonicalJson } from '../../../shared/audit/canonical-json.ts';
import { MAX_AUDIT_DATA_BYTES } from '../../../shared/audit/audit-log.ts';
import { FIELD_LIMITS } from '../../../protocols/limits.ts';
import { honestReply, hostileSite, startHostileRun, type ScriptedSite } from './hostile-site-fixture.ts';

/** The largest metrics map a site may send: the most keys, each of the longest name, each a long number. */
function maximalMetrics(site: number): Record<string, number> {
  const values: Record<string, number> = {};
  for (let k = 0; k < FIELD_LIMITS.maxMapKeys; k++) {
    const name = `m${site}_${k}_`;
    values[name.padEnd(FIELD_LIMITS.maxIdLength, 'x')] = -1.2345678901234567e-300 * (k + 1);
  }
  return values;
}

/** A privacy event of just under the per-site cap (16 KiB of JSON): a composition of many Gaussians. */
function largeEvent(): Record<string, unknown> {
  return { type: 'composed', events: Array.from({ length: 280 }, (_, i) => ({ type: 'gaussian', noise_multiplier: 1.2345678901234567 + i })) };
}

test('270 sites sending maximal metrics and privacy events: the run completes, each audit entry stays under the cap, the rest is named', { timeout: 180_000 }, async () => {
  const bloated = Array.from({ length: 269 }, (_, i) => `bloat-${String(i).padStart(3, '0')}`);
  const names = ['honest', ...bloated];
  const h = await startHostileRun(names, { rounds: 1, join_timeout_s: 60, round_timeout_s: 30, straggler_grace_s: 5 });
  const sites: ScriptedSite[] = [];
  try {
    sites.push(await hostileSite(h, 'honest'));
    for (const [i, n] of bloated.entries()) {
      sites.push(await hostileSite(h, n, (q) => ({ ...honestReply(q), privacyEvent: largeEvent() }), { metricValues: maximalMetrics(i) }));
    }
    // before the fix: the round_result entry (every participant's metrics, ~10.7 MB) passed the 8 MiB cap, and run() rejected
    const summary = await h.finish(120_000);
    assert.equal(summary.status, 'complete', h.log.join('\n'));
    assert.equal(summary.rounds[0]!.participants.length, names.length);
    const entries = h.audit.entries('hostile-run');
    for (const e of entries) assert.ok(Buffer.byteLength(canonicalJson(e.data)) <= MAX_AUDIT_DATA_BYTES, `${e.kind} entry is over the cap`);
    const result = entries.find((e) => e.kind === 'round_result')!.data as { site_metrics: Record<string, object>; site_metrics_omitted?: Record<string, number> };
    assert.deepEqual(result.site_metrics.honest, { accuracy: 0.5 }, 'the small metrics are kept');
    const omitted = Object.keys(result.site_metrics_omitted ?? {});
    assert.ok(omitted.length > 0 && omitted.every((s) => s.startsWith('bloat-')), JSON.stringify(omitted));
    assert.equal(Object.keys(result.site_metrics).length + omitted.length, names.length, 'every participant is either kept or named');
    // what the entry leaves out is still in the run's database
    assert.equal(new Set(h.db.metrics('hostile-run').filter((m) => m.source.startsWith('site:bloat-')).map((m) => m.source)).size, bloated.length);
    const release = entries.find((e) => e.kind === 'release')!.data as { site_events?: Record<string, object>; site_events_omitted?: Record<string, number> };
    const eventsOmitted = Object.keys(release.site_events_omitted ?? {});
    assert.ok(eventsOmitted.length > 0, 'the events passed the budget: some are named, not copied');
    assert.equal(Object.keys(release.site_events ?? {}).length + eventsOmitted.length, names.length - 1, 'the honest site sent no event');
    assert.equal(verifyAuditLog(parseAuditExport(exportAuditLog(h.store, 'hostile-run'))).ok, true);
  } finally {
    for (const s of sites) s.client.close();
    await h.close();
  }
});
