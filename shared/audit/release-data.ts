// The data schemas the audit log relies on: a release's charges, and the budgets and accounting a run declares.
import type { PrivacyEvent } from '../privacy/events.ts';
import { validatePrivacyEvent } from '../privacy/events.ts';
import type { PrivacyBudget } from '../privacy/ledger.ts';
import type { RdpConversion } from '../privacy/rdp-conversion.ts';
import { validateOrders } from '../privacy/orders.ts';
import { type MechanismParams, type MechanismRecord, validateMechanismParams, validateMechanismRecord } from './mechanism-record.ts';
import { UsageError } from '../util/errors.ts';
import type { OmittedSiteValue } from './site-map-budget.ts';

/**
 * `data` of a 'release' entry. Every event in `privacy_events` was charged to every scope in
 * `scopes`; `epsilon_after[scope]` is the ε the aggregator reported for the scope after the
 * charge (at the scope's δ). `site_events[site]` is the event that site recorded for what it
 * sent this round (what `audit compare` matches against the site's own ledger); a site whose event
 * did not fit the entry is in `site_events_omitted` instead, with the digest of its event.
 */
export interface ReleaseData {
  privacy_events: PrivacyEvent[];
  scopes: string[];
  epsilon_after: Record<string, number>;
  site_events?: Record<string, PrivacyEvent>;
  site_events_omitted?: Record<string, OmittedSiteValue>;
  queries_answered?: number;
  queries_refused?: number;
  /** What the mechanism did (rows, clip, noise; queries answered): `audit verify` checks the charge against it. */
  mechanism?: MechanismRecord;
  [extra: string]: unknown;
}

/** What `run_started` (and later `config_change`) data may declare for auditing. */
/** What one unit of privacy is in a run (docs/privacy.md, Privacy unit). */
export interface PrivacyUnitRecord { unit: 'site' | 'example'; teachers_per_site: number }

export interface RunAccountingData {
  /** Budgets per scope; a scope's δ is the δ its ε is reported at. */
  budgets?: Record<string, PrivacyBudget>;
  /** Default δ for scopes without a budget. */
  delta?: number;
  /** Accountant settings; default dp_accounting orders and the improved conversion. */
  accounting?: { orders?: number[]; conversion?: RdpConversion };
  /**
   * Charges a scope carries in from earlier runs on the same ledger (a site's data is the same
   * data in every run), as one composed event per scope: the replay starts from them.
   */
  carried?: Record<string, PrivacyEvent>;
  /**
   * The mechanism the run is configured for (run_started only): every release's `mechanism`
   * record must agree with it, so a record cannot claim other noise than the configuration's.
   */
  mechanism_params?: MechanismParams;
  /**
   * The privacy unit (run_started only): one site (one teacher per site) or one example (k teachers
   * per site on disjoint shards). Reports state it; ε means nothing without it.
   */
  privacy_unit?: PrivacyUnitRecord;
}

function fail(field: string, why: string): never {
  throw new UsageError(`${field}: ${why}`, 'E_AUDIT_BAD_ENTRY');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function count(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < 0) fail(field, `must be an integer ≥ 0, got ${JSON.stringify(v)}`);
  return v as number;
}

/**
 * Checks a release's data (untrusted JSON or the aggregator's own) and returns it with every
 * privacy event validated. Accepts `privacy_event` (one) as shorthand for `privacy_events`.
 */
export function validateReleaseData(json: unknown, field = 'data'): ReleaseData {
  if (!isObject(json)) fail(field, 'must be a JSON object');
  const { privacy_event, privacy_events, scopes, epsilon_after, site_events, site_events_omitted, ...rest } = json;
  if ((privacy_event === undefined) === (privacy_events === undefined)) fail(field, 'needs exactly one of privacy_event or privacy_events');
  let events: PrivacyEvent[];
  if (privacy_events !== undefined) {
    if (!Array.isArray(privacy_events) || privacy_events.length === 0) fail(`${field}.privacy_events`, 'must be a non-empty array of privacy events');
    events = privacy_events.map((e, i) => validatePrivacyEvent(e, `${field}.privacy_events[${i}]`));
  } else {
    events = [validatePrivacyEvent(privacy_event, `${field}.privacy_event`)];
  }
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => typeof s === 'string' && s !== '')) {
    fail(`${field}.scopes`, 'must be a non-empty array of scope names');
  }
  if (new Set(scopes).size !== scopes.length) fail(`${field}.scopes`, 'lists a scope twice');
  if (!isObject(epsilon_after)) fail(`${field}.epsilon_after`, 'must map each scope to its ε after the release');
  const eps: Record<string, number> = Object.create(null); // scope names are data: "__proto__" must stay a key
  for (const s of scopes as string[]) {
    const v = epsilon_after[s];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${field}.epsilon_after["${s}"]`, `must be a finite ε ≥ 0, got ${JSON.stringify(v)}`);
    eps[s] = v;
  }
  for (const k of Object.keys(epsilon_after)) if (!(scopes as string[]).includes(k)) fail(`${field}.epsilon_after["${k}"]`, 'is not one of the release\'s scopes');
  const out: ReleaseData = { ...rest, privacy_events: events, scopes: [...(scopes as string[])], epsilon_after: eps };
  if (site_events !== undefined) {
    if (!isObject(site_events)) fail(`${field}.site_events`, 'must map site names to privacy events');
    out.site_events = Object.fromEntries(Object.entries(site_events).map(([s, e]) => [s, validatePrivacyEvent(e, `${field}.site_events["${s}"]`)]));
  }
  if (site_events_omitted !== undefined) {
    if (!isObject(site_events_omitted)) fail(`${field}.site_events_omitted`, 'must map site names to {bytes, sha256}');
    const omitted: Record<string, OmittedSiteValue> = Object.create(null);
    for (const [s, d] of Object.entries(site_events_omitted)) {
      const where = `${field}.site_events_omitted["${s}"]`;
      if (out.site_events !== undefined && Object.hasOwn(out.site_events, s)) fail(where, 'names a site whose event is also in site_events');
      if (!isObject(d) || Object.keys(d).length !== 2) fail(where, 'must be {bytes, sha256}');
      if (!Number.isSafeInteger(d.bytes) || (d.bytes as number) < 0) fail(`${where}.bytes`, `must be an integer ≥ 0, got ${JSON.stringify(d.bytes)}`);
      if (typeof d.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(d.sha256)) fail(`${where}.sha256`, 'must be 64 lower-case hex digits');
      omitted[s] = { bytes: d.bytes as number, sha256: d.sha256 };
    }
    out.site_events_omitted = omitted;
  }
  count(rest.queries_answered, `${field}.queries_answered`);
  count(rest.queries_refused, `${field}.queries_refused`);
  if (rest.mechanism !== undefined) out.mechanism = validateMechanismRecord(rest.mechanism, `${field}.mechanism`);
  return out;
}

/** Reads the budgets, default δ, accountant settings and mechanism parameters a run_started or config_change entry declares. */
export function readRunAccounting(json: unknown, field = 'data'): RunAccountingData {
  if (!isObject(json)) fail(field, 'must be a JSON object');
  const out: RunAccountingData = {};
  if (json.budgets !== undefined) {
    if (!isObject(json.budgets)) fail(`${field}.budgets`, 'must map scopes to {epsilon, delta}');
    out.budgets = Object.create(null) as Record<string, PrivacyBudget>;
    for (const [scope, b] of Object.entries(json.budgets)) {
      if (!isObject(b)) fail(`${field}.budgets["${scope}"]`, 'must be {epsilon, delta}');
      const { epsilon, delta } = b;
      if (typeof epsilon !== 'number' || !(epsilon > 0) || !Number.isFinite(epsilon)) fail(`${field}.budgets["${scope}"].epsilon`, `must be a positive finite number, got ${JSON.stringify(epsilon)}`);
      if (typeof delta !== 'number' || !(delta > 0 && delta < 1)) fail(`${field}.budgets["${scope}"].delta`, `must be in (0, 1), got ${JSON.stringify(delta)}`);
      out.budgets[scope] = { epsilon, delta };
    }
  }
  if (json.delta !== undefined) {
    if (typeof json.delta !== 'number' || !(json.delta > 0 && json.delta < 1)) fail(`${field}.delta`, `must be in (0, 1), got ${JSON.stringify(json.delta)}`);
    out.delta = json.delta;
  }
  if (json.carried !== undefined) {
    if (!isObject(json.carried)) fail(`${field}.carried`, 'must map scopes to privacy events');
    out.carried = Object.create(null) as Record<string, PrivacyEvent>;
    for (const [scope, ev] of Object.entries(json.carried)) out.carried[scope] = validatePrivacyEvent(ev, `${field}.carried["${scope}"]`);
  }
  if (json.accounting !== undefined) {
    const a = json.accounting;
    if (!isObject(a)) fail(`${field}.accounting`, 'must be {orders?, conversion?}');
    out.accounting = {};
    if (a.orders !== undefined) {
      if (!Array.isArray(a.orders) || !a.orders.every((x) => typeof x === 'number')) fail(`${field}.accounting.orders`, 'must be an array of numbers');
      out.accounting.orders = validateOrders(a.orders as number[], `${field}.accounting.orders`);
    }
    if (a.conversion !== undefined) {
      if (a.conversion !== 'improved' && a.conversion !== 'classic') fail(`${field}.accounting.conversion`, 'must be "improved" or "classic"');
      out.accounting.conversion = a.conversion;
    }
  }
  if (json.mechanism_params !== undefined) out.mechanism_params = validateMechanismParams(json.mechanism_params, `${field}.mechanism_params`);
  if (json.privacy_unit !== undefined) {
    const u = json.privacy_unit;
    if (!isObject(u) || (u.unit !== 'site' && u.unit !== 'example') || !Number.isSafeInteger(u.teachers_per_site) || (u.teachers_per_site as number) < 1) {
      fail(`${field}.privacy_unit`, 'must be {unit: "site" | "example", teachers_per_site: integer ≥ 1}');
    }
    out.privacy_unit = { unit: u.unit as 'site' | 'example', teachers_per_site: u.teachers_per_site as number };
  }
  return out;
}

/** Builds a release's data from the events charged and the ledger's accepted ε per scope (PrivacyLedger.tryCharge). */
export function buildReleaseData(
  events: PrivacyEvent | readonly PrivacyEvent[],
  epsilonAfter: Record<string, number>,
  extra: { site_events?: Record<string, PrivacyEvent>; site_events_omitted?: Record<string, OmittedSiteValue>; queries_answered?: number; queries_refused?: number; mechanism?: MechanismRecord; [k: string]: unknown } = {},
): ReleaseData {
  const list = Array.isArray(events) ? [...events] : [events as PrivacyEvent];
  return validateReleaseData({ ...extra, privacy_events: list, scopes: Object.keys(epsilonAfter), epsilon_after: epsilonAfter });
}
