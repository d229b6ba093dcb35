// The audit report: totals per scope, mechanisms and queries from a verified log; a self-contained HTML page with an SVG chart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAuditSource } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { buildAuditReport, formatAuditReportText } from '../../../shared/audit/audit-report.ts';
import { formatAuditReportHtml } from '../../../shared/audit/audit-report-html.ts';
import { buildAuditRun, BUDGET, RELEASED_ROUNDS, RUN, SITES } from './audit-fixture.ts';

test('report JSON has the right totals: ε per scope over releases, budget left, mechanisms, queries, refusals', () => {
  const f = buildAuditRun();
  try {
    const s = loadAuditSource(f.exportTo());
    const r = buildAuditReport(verifyAuditLog(s.log));
    const json = JSON.parse(JSON.stringify(r));
    assert.equal(json.verified, true);
    assert.equal(json.finished, true);
    assert.equal(json.releases, RELEASED_ROUNDS);
    assert.equal(json.releases_refused, 1);
    assert.deepEqual(json.queries, { answered: 30 * RELEASED_ROUNDS, refused: 20 * RELEASED_ROUNDS });
    assert.deepEqual(json.sites, [...SITES]);
    assert.deepEqual(json.mechanisms, [
      { type: 'pate_gnmax', events: RELEASED_ROUNDS, occurrences: 30 * RELEASED_ROUNDS },
      { type: 'pate_threshold', events: RELEASED_ROUNDS, occurrences: 50 * RELEASED_ROUNDS },
    ]);
    assert.deepEqual(json.scopes.map((x: { scope: string }) => x.scope), [`run:${RUN}`, 'site:a', 'site:b']);
    for (const scope of json.scopes) {
      const spent = f.ledger.spent(scope.scope);
      assert.equal(scope.epsilon_spent, spent.epsilon);
      assert.equal(scope.delta, BUDGET.delta);
      assert.equal(scope.budget_epsilon, BUDGET.epsilon);
      assert.equal(scope.epsilon_left, BUDGET.epsilon - spent.epsilon);
      assert.equal(scope.series.length, RELEASED_ROUNDS);
      assert.deepEqual(scope.series.map((p: { round: number }) => p.round), [0, 1, 2]);
      assert.ok(scope.series[0].epsilon < scope.series[1].epsilon && scope.series[1].epsilon < scope.series[2].epsilon, 'ε grows release by release');
    }
    const site = buildAuditReport(verifyAuditLog(s.log), { site: 'a' });
    assert.deepEqual(site.scopes.map((x) => x.scope), ['site:a']);
    assert.equal(site.releases, RELEASED_ROUNDS);
    assert.ok(formatAuditReportText(r).some((l) => l.startsWith('  site:b: ε = ')));
  } finally {
    f.close();
  }
});

test('the HTML report is one self-contained page with an inline <svg> chart and escaped text', () => {
  const f = buildAuditRun();
  try {
    const s = loadAuditSource(f.dbPath);
    const v = verifyAuditLog(s.log);
    s.close();
    const html = formatAuditReportHtml(buildAuditReport(v));
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<svg [^>]*viewBox="0 0 720 320"/);
    assert.equal((html.match(/<polyline /g) ?? []).length, 3, 'one ε line per scope');
    assert.equal((html.match(/<circle /g) ?? []).length, 3 * RELEASED_ROUNDS, 'one point per release per scope');
    assert.doesNotMatch(html, /<script|<link|src=|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'nothing loaded from elsewhere');
    const hostile = buildAuditReport({ ...v, runId: '<img src=x onerror=alert(1)>' });
    assert.doesNotMatch(formatAuditReportHtml(hostile), /<img/);
  } finally {
    f.close();
  }
});

test('a report on a log that does not verify says so and covers only the entries before the problem', () => {
  const f = buildAuditRun({ reportEpsilon: (scope, eps, round) => (round === 2 ? eps + 0.5 : eps) });
  try {
    const s = loadAuditSource(f.dbPath);
    const r = buildAuditReport(verifyAuditLog(s.log));
    s.close();
    assert.equal(r.verified, false);
    assert.equal(r.problem?.code, 'E_AUDIT_EPSILON_MISMATCH');
    assert.equal(r.releases, 2);
    assert.match(formatAuditReportHtml(r), /NOT verified/);
  } finally {
    f.close();
  }
});
