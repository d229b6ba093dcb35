// What a release's mechanism did (rows, clip, noise, queries answered), logged beside its charge so an auditor can check one against the other.
import type { PrivacyEvent } from '../privacy/events.ts';
import { replaceOneSensitivity, type RowDomain } from '../privacy/soft-labels.ts';
import { UsageError } from '../util/errors.ts';

/**
 * Soft labels: `rows` rows of `cols` entries clipped to `clip`, noise of std `noise_std` added to
 * each entry; one unit's replace-one change is `sensitivity`: √2·clip for probabilities, 2·clip for
 * signed rows, plus grid·√cols when the release is snapped to a `grid` (discrete Gaussian noise).
 */
export interface GaussianRowsRecord {
  kind: 'gaussian_rows';
  rows: number;
  cols?: number;
  clip: number;
  noise_std: number;
  sensitivity: number;
  domain: RowDomain;
  grid?: number;
  adjacency: 'replace-one';
}

/** PATE: `queries` Confident-GNMax queries (threshold noise σ₁, argmax noise σ₂), `answered` of them answered. */
export interface ConfidentGnmaxRecord {
  kind: 'confident_gnmax';
  queries: number;
  answered: number;
  threshold: number;
  sigma1: number;
  sigma2: number;
  accounting: 'data-independent' | 'data-dependent';
  adjacency: 'replace-one';
}

export type MechanismRecord = GaussianRowsRecord | ConfidentGnmaxRecord;

/** Relative tolerance for noise and sensitivity figures recomputed from a record. */
const TOLERANCE = 1e-9;
const close = (a: number, b: number) => Math.abs(a - b) <= TOLERANCE * Math.max(Math.abs(a), Math.abs(b));

function fail(field: string, why: string): never {
  throw new UsageError(`${field}: ${why}`, 'E_AUDIT_BAD_ENTRY');
}

function positive(o: Record<string, unknown>, k: string, field: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(`${field}.${k}`, `must be a positive finite number, got ${JSON.stringify(v)}`);
  return v;
}

function integer(o: Record<string, unknown>, k: string, field: string): number {
  const v = o[k];
  if (!Number.isSafeInteger(v) || (v as number) < 0) fail(`${field}.${k}`, `must be an integer ≥ 0, got ${JSON.stringify(v)}`);
  return v as number;
}

function exactKeys(o: Record<string, unknown>, keys: readonly string[], field: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${field}.${k}`, `is not a field of a ${String(o.kind)} record (fields: ${keys.join(', ')})`);
}

/** Checks an untrusted record's schema (not yet its agreement with the charge: see checkChargeMatches). */
export function validateMechanismRecord(json: unknown, field = 'mechanism'): MechanismRecord {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(field, 'must be a JSON object');
  const o = json as Record<string, unknown>;
  if (o.adjacency !== 'replace-one') fail(`${field}.adjacency`, `must be "replace-one", got ${JSON.stringify(o.adjacency)}`);
  if (o.kind === 'gaussian_rows') {
    exactKeys(o, ['kind', 'rows', 'cols', 'clip', 'noise_std', 'sensitivity', 'domain', 'grid', 'adjacency'], field);
    if (o.domain !== 'probabilities' && o.domain !== 'signed') fail(`${field}.domain`, `must be "probabilities" or "signed", got ${JSON.stringify(o.domain)}`);
    if ((o.grid === undefined) !== (o.cols === undefined)) fail(`${field}.grid`, 'grid and cols come together (the grid\'s rounding adds grid·√cols to the sensitivity)');
    return {
      kind: 'gaussian_rows', rows: integer(o, 'rows', field), clip: positive(o, 'clip', field), noise_std: positive(o, 'noise_std', field),
      sensitivity: positive(o, 'sensitivity', field), domain: o.domain, adjacency: 'replace-one',
      ...(o.grid !== undefined ? { grid: positive(o, 'grid', field), cols: integer(o, 'cols', field) } : {}),
    };
  }
  if (o.kind === 'confident_gnmax') {
    exactKeys(o, ['kind', 'queries', 'answered', 'threshold', 'sigma1', 'sigma2', 'accounting', 'adjacency'], field);
    if (o.accounting !== 'data-independent' && o.accounting !== 'data-dependent') fail(`${field}.accounting`, `must be "data-independent" or "data-dependent", got ${JSON.stringify(o.accounting)}`);
    if (typeof o.threshold !== 'number' || !Number.isFinite(o.threshold)) fail(`${field}.threshold`, `must be a finite number, got ${JSON.stringify(o.threshold)}`);
    const queries = integer(o, 'queries', field);
    const answered = integer(o, 'answered', field);
    if (answered > queries) fail(`${field}.answered`, `${answered} answered of ${queries} queries`);
    return {
      kind: 'confident_gnmax', queries, answered, threshold: o.threshold, sigma1: positive(o, 'sigma1', field), sigma2: positive(o, 'sigma2', field),
      accounting: o.accounting, adjacency: 'replace-one',
    };
  }
  fail(`${field}.kind`, `must be "gaussian_rows" or "confident_gnmax", got ${JSON.stringify(o.kind)}`);
}

/** Every leaf event with its total multiplicity (counts of enclosing composed events multiplied in). */
function leaves(events: readonly PrivacyEvent[], times = 1, out: { event: PrivacyEvent; count: number }[] = []): { event: PrivacyEvent; count: number }[] {
  for (const e of events) {
    const n = times * (e.count ?? 1);
    if (e.type === 'composed') leaves(e.events, n, out);
    else out.push({ event: e, count: n });
  }
  return out;
}

/**
 * Why the charged `events` are not what the recorded mechanism costs, or undefined when they are.
 * Gaussian rows: one Gaussian per row, noise multiplier noise_std / sensitivity, and the
 * sensitivity the replace-one bound for the clip and domain. Confident-GNMax: the threshold step
 * at σ₁ once per query, GNMax at σ₂ once per answered query, and nothing else.
 */
export function chargeMismatch(m: MechanismRecord, events: readonly PrivacyEvent[]): string | undefined {
  const all = leaves(events);
  if (m.kind === 'gaussian_rows') {
    const bound = replaceOneSensitivity(m.clip, m.domain) + (m.grid !== undefined ? m.grid * Math.sqrt(m.cols!) : 0);
    if (!close(m.sensitivity, bound)) {
      return `sensitivity ${m.sensitivity} is not the replace-one bound ${bound} for clip ${m.clip} on ${m.domain} rows${m.grid !== undefined ? ` on a grid of ${m.grid} with ${m.cols} columns` : ''}`;
    }
    const want = m.noise_std / m.sensitivity;
    const g = all.filter((x) => x.event.type === 'gaussian');
    if (g.length !== all.length) return `charges ${all.length - g.length} event(s) other than gaussian for a gaussian_rows release`;
    const rows = g.reduce((s, x) => s + x.count, 0);
    if (rows !== Math.max(1, m.rows)) return `charges ${rows} Gaussian mechanism(s) for ${m.rows} released rows`;
    const off = g.find((x) => !close((x.event as { noise_multiplier: number }).noise_multiplier, want));
    if (off) return `charges noise multiplier ${(off.event as { noise_multiplier: number }).noise_multiplier}; noise std ${m.noise_std} over sensitivity ${m.sensitivity} is ${want}`;
    return undefined;
  }
  let thresholds = 0, answers = 0;
  for (const { event: e, count } of all) {
    if (e.type === 'pate_threshold' && close(e.sigma, m.sigma1)) thresholds += count;
    else if (e.type === 'pate_gnmax' && close(e.sigma, m.sigma2)) answers += count;
    else return `charges ${e.type}${'sigma' in e ? ` at σ = ${e.sigma}` : ''}, which is neither the threshold step at σ₁ = ${m.sigma1} nor GNMax at σ₂ = ${m.sigma2}`;
    if (m.accounting === 'data-independent' && ('votes' in e && e.votes !== undefined || 'max_vote' in e && e.max_vote !== undefined)) {
      return 'a data-independent release carries vote counts';
    }
  }
  if (thresholds !== m.queries) return `charges the threshold step ${thresholds} time(s) for ${m.queries} queries`;
  if (answers !== m.answered) return `charges GNMax ${answers} time(s) for ${m.answered} answered queries`;
  return undefined;
}
