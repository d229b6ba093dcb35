// Compares a site's own ledger with the aggregator's audit log: every release the site recorded, logged with the same event.
import { type PrivacyEvent, validatePrivacyEvent } from '../privacy/events.ts';
import { epsilonFromEvents } from '../privacy/rdp-accountant.ts';
import { siteOfQueryRequestId } from '../../protocols/request-id.ts';
import { FedistillError, UsageError } from '../util/errors.ts';
import { canonicalJson } from './canonical-json.ts';
import type { AuditProblem } from './audit-problem.ts';
import { type OmittedSiteValue, siteValueDigest } from './site-map-budget.ts';
import { epsilonMatches, type VerifiedRelease, type VerifyResult } from './audit-verify.ts';

/**
 * What compare needs from a site's ledger entry (client/site-ledger.ts writes these fields);
 * declared here so shared/ does not depend on client/.
 */
export interface SiteLedgerRecord {
  runId: string;
  round: number;
  requestId: string;
  event: unknown;
  /** The aggregator's public key (base64) the reply went to; absent in older ledgers. */
  aggregator?: string;
  /** Who added the noise the event charges: the site itself ('local') or the aggregator as the run promised ('central'); absent in older ledgers. */
  noise?: 'local' | 'central';
}

/** A comparison finding: an audit problem plus the round and the site's request id it concerns. */
export interface CompareProblem extends AuditProblem {
  round: number | null;
  request_id?: string;
}

export interface CompareResult {
  ok: boolean;
  site: string;
  run_id: string;
  /** Site ledger entries of this run that were checked. */
  checked: number;
  matched: number;
  /** Site entries whose round the aggregator logged as refused for budget (nothing released: not a mismatch). */
  refused: number;
  /**
   * Site entries of a round whose signed round_result names the site among the round's failures
   * (it timed out, was cut off as a straggler, or its reply was refused): recorded by the site, not
   * aggregated, as when a site crashes between recording a reply and sending it. Conservative for
   * the site (its bound counts a release that did not happen), not a mismatch.
   */
  unaggregated: number;
  /** Site ledger entries of other runs, ignored. */
  other_runs: number;
  delta: number | null;
  /** The site's own worst-case ε for this run, at the aggregator's δ for `site:<site>`. */
  site_epsilon: number | null;
  /**
   * What the aggregator charged `site:<site>` for this run's releases: their logged events replayed
   * (null when it charged no such scope). Like for like with `site_epsilon`, which covers this run.
   */
  aggregator_epsilon: number | null;
  /**
   * The last ε the aggregator reported for `site:<site>`: with the charges it carried from earlier
   * runs on its database (docs/runs.md, site budgets across runs); `aggregator_epsilon` in a first run.
   */
  aggregator_epsilon_cumulative: number | null;
  /**
   * Who added the noise the site's events charge, as its ledger records it: 'local' (its own noise:
   * its bound holds whatever the aggregator does, and an aggregator charging only its central
   * noise may report more), 'central', or null for a ledger that does not say (older ones) unless
   * the caller says (`siteNoise`, the CLI's --site-noise, from the site's configuration).
   */
  site_noise: 'local' | 'central' | null;
  problems: CompareProblem[];
}

/** What a release logged for a site: its event, or the digest of an event too large for the entry (site_events_omitted). */
type LoggedEvent = { event: unknown } | { digest: OmittedSiteValue };

/** The event a release logged for a site: own properties only, so a site named "constructor" is not Object's. */
function siteEvent(r: VerifiedRelease, site: string): LoggedEvent | undefined {
  const events = r.data.site_events;
  if (events !== undefined && Object.hasOwn(events, site)) return { event: events[site] };
  const omitted = r.data.site_events_omitted;
  return omitted !== undefined && Object.hasOwn(omitted, site) ? { digest: omitted[site]! } : undefined;
}

/** The sites a round_result entry's `failures` names (`[{site, reason}]`; absent in older logs, and anything else read as none). */
function roundFailures(data: unknown): string[] {
  const f = (data as { failures?: unknown } | null)?.failures;
  return Array.isArray(f) ? f.flatMap((x) => (x !== null && typeof x === 'object' && typeof (x as { site?: unknown }).site === 'string' ? [(x as { site: string }).site] : [])) : [];
}

/** Whether a round_result entry names the site as a participant or among the metrics it kept or left out. */
function listsSite(data: unknown, site: string): boolean {
  const d = (data ?? {}) as { participants?: unknown; site_metrics?: unknown; site_metrics_omitted?: unknown };
  const inMap = (m: unknown) => m !== null && typeof m === 'object' && Object.hasOwn(m, site);
  return (Array.isArray(d.participants) && d.participants.includes(site)) || inMap(d.site_metrics) || inMap(d.site_metrics_omitted);
}

/** The event as validated (so equal events compare equal), or as given when it does not validate. */
function normalizedEvent(e: unknown): unknown {
  try { return validatePrivacyEvent(e); } catch { return e; }
}

function canonicalEvent(e: unknown): string {
  return canonicalJson(normalizedEvent(e));
}

/** The SHA-256 (hex) of an event's canonical JSON: what site_events_omitted records. */
function eventDigest(e: unknown): string {
  return siteValueDigest(normalizedEvent(e)).sha256;
}

/** The site's event in the form the log holds it: canonical JSON, or for an omitted one its digest. */
function asLogged(logged: LoggedEvent, event: unknown): string {
  return 'event' in logged ? canonicalEvent(event) : `an event of sha256 ${eventDigest(event)}`;
}

function describeLogged(logged: LoggedEvent): string {
  return 'event' in logged ? canonicalEvent(logged.event) : `an event of sha256 ${logged.digest.sha256} (${logged.digest.bytes} bytes, left out of the entry for size)`;
}

function sameEvent(logged: LoggedEvent, event: unknown): boolean {
  return 'event' in logged ? canonicalEvent(logged.event) === canonicalEvent(event) : eventDigest(event) === logged.digest.sha256;
}

/**
 * The site that wrote these entries, from their request ids (the aggregator's ids end in the
 * site it asked: protocols/request-id.ts), so a ledger names its site whatever events the sites
 * sent. `--site` must agree with it
 * (E_AUDIT_SITE_MISMATCH, a usage error); without `--site` it is the answer. Undefined when
 * no request id names a site (a ledger from before the format, or a test's own ids).
 */
function siteFromRequestIds(entries: readonly SiteLedgerRecord[], runId: string, asked: string | undefined): string | undefined {
  const named = new Map<string, string>();
  for (const e of entries) {
    const site = siteOfQueryRequestId(e.requestId, e.runId, e.round);
    if (site !== undefined && !named.has(site)) named.set(site, e.requestId);
  }
  const sites = [...named.keys()].sort();
  const example = (site: string) => `${site} (request ${named.get(site)})`;
  if (sites.length > 1) {
    throw new FedistillError('E_AUDIT_SITE_MISMATCH', `the ledger's entries for run ${runId} were written for several sites: ${sites.map(example).join(', ')}; a site ledger holds one site's releases: is this the right file?`);
  }
  const site = sites[0];
  if (site !== undefined && asked !== undefined && asked !== site) {
    throw new UsageError(`--site ${asked}, but this is the ledger of ${example(site)}: pass --site ${site}, or the ledger of ${asked}`, 'E_AUDIT_SITE_MISMATCH');
  }
  return site;
}

/** The one site whose logged events agree with every site entry that has a logged counterpart, if exactly one does. */
function inferSite(entries: readonly SiteLedgerRecord[], releases: readonly VerifiedRelease[]): string {
  const candidates = [...new Set(releases.flatMap((r) => [...Object.keys(r.data.site_events ?? {}), ...Object.keys(r.data.site_events_omitted ?? {})]))].sort();
  const fits = candidates.filter((site) => {
    let matched = 0;
    for (const e of entries) {
      for (const r of releases) {
        const ev = r.round === e.round ? siteEvent(r, site) : undefined;
        if (ev === undefined) continue;
        if (!sameEvent(ev, e.event)) return false;
        matched++;
      }
    }
    return matched > 0;
  });
  if (fits.length === 1) return fits[0]!;
  throw new UsageError(`cannot tell which site wrote this ledger (${fits.length ? `candidates: ${fits.join(', ')}` : `no site's logged events match it; sites in the log: ${candidates.join(', ') || 'none'}`}); pass --site NAME`, 'E_AUDIT_SITE_REQUIRED');
}

/**
 * Checks, for one site and one run: every release the site recorded appears in the aggregator's
 * (verified) log at the same round with `site_events[site]` canonically equal to the site's
 * event; every release the log attributes to the site was recorded by it; and the site's own
 * worst-case ε is at least the ε the aggregator reports for `site:<site>`.
 */
export function compareSiteLedger(siteEntries: readonly SiteLedgerRecord[], v: VerifyResult, options: { site?: string; siteNoise?: 'local' | 'central' } = {}): CompareResult {
  const base = { run_id: v.runId, checked: 0, matched: 0, refused: 0, unaggregated: 0, other_runs: 0, delta: null, site_epsilon: null, aggregator_epsilon: null, aggregator_epsilon_cumulative: null, site_noise: null };
  if (!v.ok) return { ...base, ok: false, site: options.site ?? '', problems: [{ ...v.problem!, round: null }] };
  const mine = siteEntries.filter((e) => e.runId === v.runId);
  if (mine.length === 0 && options.site === undefined) {
    // nothing to infer the site from: most likely the wrong file, not a lying aggregator
    const runs = [...new Set(siteEntries.map((e) => e.runId))].sort();
    throw new FedistillError('E_AUDIT_RUN_MISMATCH', `the ledger holds no release of run ${v.runId}, the log's run (${siteEntries.length ? `its ${siteEntries.length} entries are of run${runs.length > 1 ? 's' : ''} ${runs.join(', ')}` : 'it is empty'}): pass the log of the ledger's run (--run), or the ledger of a site of run ${v.runId}; to check that the log attributes no release to a site that took no part, pass --site NAME`);
  }
  const site = siteFromRequestIds(mine, v.runId, options.site) ?? options.site ?? inferSite(mine, v.releases);
  const noises = new Set(mine.map((e) => e.noise));
  const recordedNoise = noises.size === 1 && !noises.has(undefined) ? [...noises][0]! : null;
  const recordedAny = [...noises].filter((n) => n !== undefined);
  if (options.siteNoise !== undefined && recordedAny.some((n) => n !== options.siteNoise)) {
    throw new UsageError(`the ledger records ${recordedAny.join(' and ')} noise for run ${v.runId}: --site-noise ${options.siteNoise} is only for ledgers that do not say; drop it`);
  }
  // an older ledger does not say who added the noise: the auditor may, from the site's site.yaml
  const siteNoise = recordedNoise ?? options.siteNoise ?? null;
  const result: CompareResult = { ...base, ok: false, site, other_runs: siteEntries.length - mine.length, site_noise: siteNoise, problems: [] };
  const refusedRounds = new Set(v.entries.filter((e) => e.kind === 'budget_refused' && e.round !== null && (e.site === null || e.site === site)).map((e) => e.round!));
  // Rounds whose signed result records this site as failed (logs of older builds record none), and
  // only where that is consistent: the round was released, and that result does not also list the
  // site as a participant or with metrics. An honest aggregator never writes otherwise; a round with
  // no release that "failed" the site would excuse a query the log never accounts for.
  const releasedRounds = new Set(v.releases.map((r) => r.round));
  const failedRounds = new Set(v.entries.filter((e) => e.kind === 'round_result' && e.round !== null && releasedRounds.has(e.round)
    && roundFailures(e.data).includes(site) && !listsSite(e.data, site)).map((e) => e.round!));
  const siteRounds = new Set<number>();
  for (const e of mine) {
    result.checked++;
    siteRounds.add(e.round);
    if (e.aggregator !== undefined && e.aggregator !== v.publicKey) {
      // the run id alone does not tie a ledger to a log: every `fedistill start` runs as "start"
      result.problems.push({ code: 'E_AUDIT_KEY_MISMATCH', seq: null, index: null, round: e.round, request_id: e.requestId,
        message: `the site sent this reply to the aggregator with key ${e.aggregator}, but the log is signed by ${v.publicKey}: the ledger and the log are from different deployments (or the log was re-signed under another key)` });
      continue;
    }
    const logged = v.releases.filter((r) => r.round === e.round && siteEvent(r, site) !== undefined);
    if (logged.length === 0) {
      if (refusedRounds.has(e.round)) { result.refused++; continue; }
      if (failedRounds.has(e.round)) { result.unaggregated++; continue; }
      result.problems.push({ code: 'E_AUDIT_MISSING_RELEASE', seq: null, index: null, round: e.round, request_id: e.requestId,
        message: `the site recorded a release in round ${e.round + 1} (request ${e.requestId}); the aggregator's log has no release from site "${site}" in that round` });
      continue;
    }
    const bad = logged.find((r) => !sameEvent(siteEvent(r, site)!, e.event));
    if (bad) {
      const theirs = siteEvent(bad, site)!;
      result.problems.push({ code: 'E_AUDIT_EVENT_MISMATCH', seq: bad.seq, index: bad.seq, round: e.round, request_id: e.requestId,
        message: `round ${e.round + 1}: the site recorded ${asLogged(theirs, e.event)}, the aggregator logged ${describeLogged(theirs)}` });
      continue;
    }
    result.matched++;
  }
  for (const r of v.releases) {
    if (siteEvent(r, site) !== undefined && r.round !== null && !siteRounds.has(r.round)) {
      result.problems.push({ code: 'E_AUDIT_UNRECORDED_RELEASE', seq: r.seq, index: r.seq, round: r.round,
        message: `the aggregator logged a release from site "${site}" in round ${r.round + 1}; the site's ledger has no release for that round` });
    }
  }
  const scope = `site:${site}`;
  const charged = v.releases.filter((r) => r.data.scopes.includes(scope));
  const delta = v.deltas[scope] ?? v.budgets[scope]?.delta;
  if (delta !== undefined) {
    result.delta = delta;
    // both sides replayed with the log's accountant settings (an ε beyond every order is ∞)
    const replay = (events: PrivacyEvent[]): number => {
      try { return epsilonFromEvents(events, delta, { orders: v.accounting.orders, conversion: v.accounting.conversion }).epsilon; } catch { return Infinity; }
    };
    const siteEps = mine.length > 0 ? replay(mine.map((e) => validatePrivacyEvent(e.event, `site ledger round ${e.round} event`))) : 0;
    result.site_epsilon = siteEps;
    if (charged.length > 0) {
      const last = charged.at(-1)!;
      result.aggregator_epsilon_cumulative = last.data.epsilon_after[scope]!;
      // this run's charges only, as the site's figure: the scope's reported ε also holds what earlier
      // runs on the aggregator's database charged the site (carried), which this run's entries do not
      const agg = replay(charged.flatMap((r) => r.data.privacy_events));
      result.aggregator_epsilon = agg;
      // With local noise the site's bound holds whatever the aggregator does, and an aggregator that
      // charges its central noise alone may report more: conservative, not a finding. Otherwise the
      // site's bound assumes the noise the run promised, and a larger charge says the aggregator
      // charged (or noised) the site for other than what it sent.
      if (siteNoise !== 'local' && agg > siteEps && !epsilonMatches(agg, siteEps)) {
        result.problems.push({ code: 'E_AUDIT_SITE_EPSILON', seq: last.seq, index: last.seq, round: last.round,
          message: `the aggregator charged ${scope} ε = ${agg} for this run's releases, above the site's own worst-case ε = ${siteEps} at δ = ${delta}: it charged the site for events the site did not send`
            + (siteNoise === null && noises.has(undefined) ? '; this ledger predates its "noise" field: if the site added local noise (policy.local_noise_multiplier > 0 in its site.yaml), the larger charge is expected: check again with --site-noise local' : '') });
      }
    }
  }
  result.ok = result.problems.length === 0;
  return result;
}
