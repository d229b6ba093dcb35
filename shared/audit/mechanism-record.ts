// What a release's mechanism did (rows, clip, noise, queries answered), logged beside its charge so an auditor can check one against the other.
import type { PrivacyEvent } from '../privacy/events.ts';
import { replaceOneSensitivity, type RowDomain } from '../privacy/soft-labels.ts';
import { float32Step } from '../privacy/grid-gaussian.ts';
import { UsageError } from '../util/errors.ts';

/**
 * Soft labels: `rows` rows of `cols` entries clipped to `clip`, noise of std `noise_std` added to
 * each entry; one unit's replace-one change is `sensitivity`: √2·clip for probabilities, 2·clip for
 * signed rows, plus grid·√cols when the release is snapped to a `grid` (discrete Gaussian noise),
 * plus transport_ulp·√cols when replies travel as Float32 (each entry may round by that much).
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
  /** Float32 rounding step of replies at their largest possible entry; only with grid and cols. */
  transport_ulp?: number;
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

/**
 * What run_started declares the run's mechanism to be (`mechanism_params`), from the run's
 * configuration: every release's record must agree with it, so a record cannot claim more noise
 * than the operator configured.
 */
export type MechanismParams =
  | {
    kind: 'gaussian_rows'; clip: number; noise_multiplier: number; teachers_per_site: number; domain: RowDomain;
    /** Rows every round releases, the classes per row and the release grid: when declared, each record must say the same (and carry the float32 step of teachers_per_site × clip). */
    rows_per_round?: number; cols?: number; grid?: number;
  }
  | { kind: 'confident_gnmax'; threshold: number; sigma1: number; sigma2: number; accounting: ConfidentGnmaxRecord['accounting']; queries_per_round?: number };

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

function oneOf<T extends string>(o: Record<string, unknown>, k: string, values: readonly T[], field: string): T {
  if (!values.includes(o[k] as T)) fail(`${field}.${k}`, `must be ${values.map((v) => `"${v}"`).join(' or ')}, got ${JSON.stringify(o[k])}`);
  return o[k] as T;
}

function finite(o: Record<string, unknown>, k: string, field: string): number {
  if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) fail(`${field}.${k}`, `must be a finite number, got ${JSON.stringify(o[k])}`);
  return o[k] as number;
}

const DOMAINS: readonly RowDomain[] = ['probabilities', 'signed'];
const ACCOUNTING: readonly ConfidentGnmaxRecord['accounting'][] = ['data-independent', 'data-dependent'];

function exactKeys(o: Record<string, unknown>, keys: readonly string[], field: string, noun = 'record'): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${field}.${k}`, `is not a field of a ${String(o.kind)} ${noun} (fields: ${keys.join(', ')})`);
}

/** Checks an untrusted record's schema (not yet its agreement with the charge: see chargeMismatch). */
export function validateMechanismRecord(json: unknown, field = 'mechanism'): MechanismRecord {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(field, 'must be a JSON object');
  const o = json as Record<string, unknown>;
  if (o.adjacency !== 'replace-one') fail(`${field}.adjacency`, `must be "replace-one", got ${JSON.stringify(o.adjacency)}`);
  if (o.kind === 'gaussian_rows') {
    exactKeys(o, ['kind', 'rows', 'cols', 'clip', 'noise_std', 'sensitivity', 'domain', 'grid', 'transport_ulp', 'adjacency'], field);
    const domain = oneOf(o, 'domain', DOMAINS, field);
    if ((o.grid === undefined) !== (o.cols === undefined)) fail(`${field}.grid`, 'grid and cols come together (the grid\'s rounding adds grid·√cols to the sensitivity)');
    if (o.transport_ulp !== undefined && o.grid === undefined) fail(`${field}.transport_ulp`, 'comes with grid and cols (it adds transport_ulp·√cols to the sensitivity of a gridded release)');
    return {
      kind: 'gaussian_rows', rows: integer(o, 'rows', field), clip: positive(o, 'clip', field), noise_std: positive(o, 'noise_std', field),
      sensitivity: positive(o, 'sensitivity', field), domain, adjacency: 'replace-one',
      ...(o.grid !== undefined ? { grid: positive(o, 'grid', field), cols: integer(o, 'cols', field) } : {}),
      ...(o.transport_ulp !== undefined ? { transport_ulp: positive(o, 'transport_ulp', field) } : {}),
    };
  }
  if (o.kind === 'confident_gnmax') {
    exactKeys(o, ['kind', 'queries', 'answered', 'threshold', 'sigma1', 'sigma2', 'accounting', 'adjacency'], field);
    const accounting = oneOf(o, 'accounting', ACCOUNTING, field);
    const threshold = finite(o, 'threshold', field);
    const queries = integer(o, 'queries', field);
    const answered = integer(o, 'answered', field);
    if (answered > queries) fail(`${field}.answered`, `${answered} answered of ${queries} queries`);
    return {
      kind: 'confident_gnmax', queries, answered, threshold, sigma1: positive(o, 'sigma1', field), sigma2: positive(o, 'sigma2', field),
      accounting, adjacency: 'replace-one',
    };
  }
  fail(`${field}.kind`, `must be "gaussian_rows" or "confident_gnmax", got ${JSON.stringify(o.kind)}`);
}

/** Checks the `mechanism_params` a run_started entry declares (strict: exactly the fields of its kind). */
export function validateMechanismParams(json: unknown, field = 'mechanism_params'): MechanismParams {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(field, 'must be a JSON object');
  const o = json as Record<string, unknown>;
  if (o.kind === 'gaussian_rows') {
    exactKeys(o, ['kind', 'clip', 'noise_multiplier', 'teachers_per_site', 'domain', 'rows_per_round', 'cols', 'grid'], field, 'mechanism_params');
    const teachers = o.teachers_per_site;
    if (!Number.isSafeInteger(teachers) || (teachers as number) < 1) fail(`${field}.teachers_per_site`, `must be an integer ≥ 1, got ${JSON.stringify(teachers)}`);
    return {
      kind: 'gaussian_rows', clip: positive(o, 'clip', field), noise_multiplier: positive(o, 'noise_multiplier', field),
      teachers_per_site: teachers as number, domain: oneOf(o, 'domain', DOMAINS, field),
      ...(o.rows_per_round !== undefined ? { rows_per_round: integer(o, 'rows_per_round', field) } : {}),
      ...(o.cols !== undefined ? { cols: integer(o, 'cols', field) } : {}),
      ...(o.grid !== undefined ? { grid: positive(o, 'grid', field) } : {}),
    };
  }
  if (o.kind === 'confident_gnmax') {
    exactKeys(o, ['kind', 'threshold', 'sigma1', 'sigma2', 'accounting', 'queries_per_round'], field, 'mechanism_params');
    return {
      kind: 'confident_gnmax', threshold: finite(o, 'threshold', field), sigma1: positive(o, 'sigma1', field),
      sigma2: positive(o, 'sigma2', field), accounting: oneOf(o, 'accounting', ACCOUNTING, field),
      ...(o.queries_per_round !== undefined ? { queries_per_round: integer(o, 'queries_per_round', field) } : {}),
    };
  }
  fail(`${field}.kind`, `must be "gaussian_rows" or "confident_gnmax", got ${JSON.stringify(o.kind)}`);
}

/**
 * Why a release's record disagrees with the parameters its run declared, or undefined when it
 * agrees: same kind; Gaussian rows: the declared clip and domain, and noise std = noise
 * multiplier × clip (relative 1e-9); Confident-GNMax: the declared threshold, σ₁, σ₂ and accounting.
 */
export function paramsMismatch(p: MechanismParams, m: MechanismRecord): string | undefined {
  if (p.kind !== m.kind) return `kind ${m.kind} differs from the run's declared ${p.kind}`;
  if (p.kind === 'gaussian_rows' && m.kind === 'gaussian_rows') {
    if (m.clip !== p.clip) return `clip ${m.clip} differs from the run's declared clip ${p.clip}`;
    if (m.domain !== p.domain) return `domain "${m.domain}" differs from the run's declared domain "${p.domain}"`;
    const std = p.noise_multiplier * p.clip;
    if (!close(m.noise_std, std)) return `noise_std ${m.noise_std} differs from the run's declared noise_multiplier ${p.noise_multiplier} × clip ${p.clip} = ${std}`;
    // what sets the sensitivity and the count must be the run's, or a record could charge less
    if (p.rows_per_round !== undefined && m.rows !== p.rows_per_round) return `rows ${m.rows} differ from the run's declared rows_per_round ${p.rows_per_round}`;
    if (p.cols !== undefined && m.cols !== p.cols) return `cols ${m.cols} differ from the run's declared cols ${p.cols}`;
    if (p.grid !== undefined) {
      if (m.grid !== p.grid) return `grid ${m.grid} differs from the run's declared grid ${p.grid}`;
      const step = float32Step(p.teachers_per_site * p.clip);
      if ((m.transport_ulp ?? 0) !== step) return `transport_ulp ${m.transport_ulp} is not the float32 step ${step} of the run's teachers_per_site ${p.teachers_per_site} × clip ${p.clip}`;
    }
    return undefined;
  }
  if (p.kind === 'confident_gnmax' && m.kind === 'confident_gnmax') {
    if (p.queries_per_round !== undefined && m.queries !== p.queries_per_round) return `queries ${m.queries} differ from the run's declared queries_per_round ${p.queries_per_round}`;
    for (const k of ['threshold', 'sigma1', 'sigma2', 'accounting'] as const) {
      if (m[k] !== p[k]) return `${k} ${JSON.stringify(m[k])} differs from the run's declared ${k} ${JSON.stringify(p[k])}`;
    }
  }
  return undefined;
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
 * sensitivity the replace-one bound for the clip and domain, plus (grid + transport_ulp)·√cols. Confident-GNMax: the threshold step
 * at σ₁ once per query, GNMax at σ₂ once per answered query, and nothing else.
 */
export function chargeMismatch(m: MechanismRecord, events: readonly PrivacyEvent[]): string | undefined {
  const all = leaves(events);
  if (m.kind === 'gaussian_rows') {
    const slack = m.grid !== undefined ? (m.grid + (m.transport_ulp ?? 0)) * Math.sqrt(m.cols!) : 0;
    const bound = replaceOneSensitivity(m.clip, m.domain) + slack;
    if (!close(m.sensitivity, bound)) {
      const grid = m.grid !== undefined ? ` on a grid of ${m.grid} with ${m.cols} columns` : '';
      const ulp = m.transport_ulp !== undefined ? ` and Float32 transport rounding of ${m.transport_ulp}` : '';
      return `sensitivity ${m.sensitivity} is not the replace-one bound ${bound} for clip ${m.clip} on ${m.domain} rows${grid}${ulp}`;
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
