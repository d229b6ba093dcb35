// What a run spent, from a verified audit log: ε and δ per scope over releases, mechanisms, queries, budget left.
import type { PrivacyEvent } from '../privacy/events.ts';
import type { AuditProblem } from './audit-problem.ts';
import { formatProblem } from './audit-problem.ts';
import type { VerifiedRelease, VerifyResult } from './audit-verify.ts';
import type { PrivacyUnitRecord } from './release-data.ts';

export interface ScopeSeriesPoint { seq: number; round: number | null; at: string; epsilon: number; delta: number }

export interface ScopeReport {
  scope: string;
  delta: number;
  /** Budget ε from run_started/config_change, or null when the run declared none for the scope. */
  budget_epsilon: number | null;
  epsilon_spent: number;
  epsilon_left: number | null;
  releases: number;
  series: ScopeSeriesPoint[];
}

export interface MechanismUse {
  type: PrivacyEvent['type'];
  /** Event objects of this type (composed events are counted by their parts). */
  events: number;
  /** Occurrences: events weighted by their `count` (and enclosing composed counts). */
  occurrences: number;
}

/** The privacy unit in words, for reports: what ε is about. */
export function privacyUnitText(u: PrivacyUnitRecord | null): string {
  if (!u) return 'not recorded in this log (written before it was): take it from the run\'s configuration (docs/privacy.md)';
  return u.unit === 'site'
    ? 'site-level (one teacher per site: neighbouring datasets differ in one site\'s data)'
    : `example-level (${u.teachers_per_site} teachers per site on disjoint shards: neighbouring datasets differ in one example)`;
}

export interface AuditReport {
  run_id: string;
  public_key: string;
  fingerprint: string | null;
  verified: boolean;
  problem?: AuditProblem;
  finished: boolean;
  /** What one unit of privacy is (run_started), or null in logs written before it was recorded. */
  privacy_unit: PrivacyUnitRecord | null;
  site: string | null;
  entries: number;
  first_at: string | null;
  last_at: string | null;
  sites: string[];
  releases: number;
  /** Rounds refused for budget: for the run, rounds with a budget_refused entry and no release; with a site, rounds whose entry names it. */
  releases_refused: number;
  queries: { answered: number | null; refused: number | null };
  mechanisms: MechanismUse[];
  scopes: ScopeReport[];
}

function countMechanisms(e: PrivacyEvent, weight: number, into: Map<string, MechanismUse>): void {
  const w = weight * (e.count ?? 1);
  if (e.type === 'composed') {
    for (const c of e.events) countMechanisms(c, w, into);
    return;
  }
  const m = into.get(e.type) ?? { type: e.type, events: 0, occurrences: 0 };
  m.events += 1;
  m.occurrences += w;
  into.set(e.type, m);
}

/**
 * Summarises a verified log. With `site`, only the scope `site:<site>` and the releases that
 * charged it or carry the site's event. Numbers come from the replay, which equals what the log
 * reports when `verified` is true; an unverified log reports only the entries before the problem.
 */
export function buildAuditReport(v: VerifyResult, options: { site?: string } = {}): AuditReport {
  const site = options.site;
  const siteScope = site === undefined ? undefined : `site:${site}`;
  const logs = (r: VerifiedRelease, s: string) => Object.hasOwn(r.data.site_events ?? {}, s) || Object.hasOwn(r.data.site_events_omitted ?? {}, s);
  const releases = v.releases.filter((r) => site === undefined || r.data.scopes.includes(siteScope!) || logs(r, site));
  const mechanisms = new Map<string, MechanismUse>();
  let answered: number | null = null;
  let refused: number | null = null;
  for (const r of releases) {
    for (const e of r.data.privacy_events) countMechanisms(e, 1, mechanisms);
    if (r.data.queries_answered !== undefined) answered = (answered ?? 0) + r.data.queries_answered;
    if (r.data.queries_refused !== undefined) refused = (refused ?? 0) + r.data.queries_refused;
  }
  const scopes = new Map<string, ScopeReport>();
  for (const r of releases) {
    for (const scope of r.data.scopes) {
      if (siteScope !== undefined && scope !== siteScope) continue;
      const budget = v.budgets[scope];
      let s = scopes.get(scope);
      if (!s) scopes.set(scope, s = { scope, delta: v.deltas[scope]!, budget_epsilon: budget?.epsilon ?? null, epsilon_spent: 0, epsilon_left: null, releases: 0, series: [] });
      s.series.push({ seq: r.seq, round: r.round, at: r.at, epsilon: r.epsilon[scope]!, delta: v.deltas[scope]! });
      s.releases += 1;
      s.epsilon_spent = r.epsilon[scope]!;
    }
  }
  for (const s of scopes.values()) if (s.budget_epsilon !== null) s.epsilon_left = Math.max(0, s.budget_epsilon - s.epsilon_spent);
  // A round refused for budget: for the run, one with a budget_refused entry and no release (a site
  // left out for its own budget names itself in the entry, and the round goes on without it); for a
  // site, one whose entry names it. Counted once per round (a restarted aggregator may log it again).
  const releasedRounds = new Set(v.releases.map((r) => r.round));
  const refusedEntries = v.entries.filter((e) => e.kind === 'budget_refused'
    && (site === undefined ? !releasedRounds.has(e.round ?? -1) : e.site === site || e.data.scope === siteScope));
  const refusedRounds = new Set(refusedEntries.map((e) => e.round)).size;
  const report: AuditReport = {
    run_id: v.runId, public_key: v.publicKey, fingerprint: v.fingerprint ?? null, verified: v.ok, finished: v.finished,
    privacy_unit: v.privacyUnit ?? null, site: site ?? null, entries: v.entries.length, first_at: v.entries[0]?.at ?? null, last_at: v.entries.at(-1)?.at ?? null,
    sites: [...new Set(v.entries.filter((e) => e.kind === 'site_joined' && e.site !== null).map((e) => e.site!))].sort(),
    releases: releases.length, releases_refused: refusedRounds, queries: { answered, refused },
    mechanisms: [...mechanisms.values()].sort((a, b) => a.type.localeCompare(b.type)),
    scopes: [...scopes.values()].sort((a, b) => a.scope.localeCompare(b.scope)),
  };
  if (v.problem) report.problem = v.problem;
  return report;
}

/**
 * A round as people read it: from 1, as the aggregator's log says "round 1/4". The log, the
 * ledgers and every JSON output keep `round` from 0; only text for people adds one.
 */
export function roundLabel(round: number | null): string {
  return round === null ? '-' : String(round + 1);
}

/** The report as lines a person reads in a terminal (rounds from 1: roundLabel). */
export function formatAuditReportText(r: AuditReport): string[] {
  const lines = [
    `audit report — run ${r.run_id}${r.site ? `, site ${r.site}` : ''}`,
    `signed by ${r.public_key} (fingerprint ${r.fingerprint ?? '?'})`,
    r.verified ? `verified: yes (${r.entries} entries${r.finished ? ', run finished' : ', run not finished'})`
      : `verified: NO — ${r.problem ? formatProblem(r.problem) : 'unknown problem'}; figures below cover only the ${r.entries} entries before it`,
    `period: ${r.first_at ?? '-'} … ${r.last_at ?? '-'}`,
    `privacy unit: ${privacyUnitText(r.privacy_unit)}`,
    `sites: ${r.sites.join(', ') || '(none)'}`,
    `releases: ${r.releases}, refused for budget: ${r.releases_refused}`,
    `queries answered: ${r.queries.answered ?? 'n/a'}, refused: ${r.queries.refused ?? 'n/a'}`,
    'mechanisms:',
    ...(r.mechanisms.length ? r.mechanisms.map((m) => `  ${m.type.padEnd(20)} ${m.events} event(s), ${m.occurrences} occurrence(s)`) : ['  (none)']),
    'privacy spent per scope:',
  ];
  for (const s of r.scopes) {
    lines.push(`  ${s.scope}: ε = ${s.epsilon_spent.toPrecision(6)} at δ = ${s.delta} over ${s.releases} release(s)`
      + (s.budget_epsilon !== null ? `; budget ε = ${s.budget_epsilon}, left ${s.epsilon_left!.toPrecision(6)}` : '; no budget declared'));
    for (const p of s.series) lines.push(`    seq ${String(p.seq).padStart(4)}  round ${roundLabel(p.round).padStart(4)}  ${p.at}  ε = ${p.epsilon.toPrecision(6)}`);
  }
  if (r.scopes.length === 0) lines.push('  (no releases)');
  return lines;
}
