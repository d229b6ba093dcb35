// The privacy event schema: every charge the accountant understands, as versioned, validated JSON.
//
// A ledger is a list of these events; replaying it through RdpAccountant gives the same ε.
// The schema is documented in docs/privacy.md (section "Privacy events").
import { UsageError } from '../util/errors.ts';

/** Bumped when an event's meaning or fields change; readers reject versions they do not know. */
export const PRIVACY_EVENT_SCHEMA_VERSION = 1;

/** How many times an event happened (default 1); composition multiplies its RDP by this. */
interface Repeated { count?: number }

/** Gaussian mechanism; noise_multiplier = σ / L2-sensitivity. */
export interface GaussianEvent extends Repeated { type: 'gaussian'; noise_multiplier: number }
/** Poisson-subsampled Gaussian (DP-SGD step): each record is included with probability sampling_rate. */
export interface SubsampledGaussianEvent extends Repeated {
  type: 'subsampled_gaussian'; sampling_rate: number; noise_multiplier: number;
}
/** Laplace mechanism; scale = b / L1-sensitivity (so pure ε = 1/scale). */
export interface LaplaceEvent extends Repeated { type: 'laplace'; scale: number }
/** Any ε-DP mechanism (e.g. LNMax with ε = 2/scale), charged with the tight randomized-response RDP curve. */
export interface PureEvent extends Repeated { type: 'pure'; epsilon: number }
/**
 * PATE threshold step (Confident-GNMax step 1): max vote + N(0, σ²) compared with threshold.
 * Data-dependent when max_vote is given (with threshold), otherwise the data-independent α/(2σ²).
 */
export interface PateThresholdEvent extends Repeated {
  type: 'pate_threshold'; sigma: number; threshold?: number; max_vote?: number;
}
/** PATE GNMax step: data-dependent (Theorem 6) when votes are given, otherwise α/σ². */
export interface PateGnmaxEvent extends Repeated { type: 'pate_gnmax'; sigma: number; votes?: number[] }
/** Several events applied together; with count, the whole group is repeated. */
export interface ComposedEvent extends Repeated { type: 'composed'; events: PrivacyEvent[] }

export type PrivacyEvent =
  | GaussianEvent | SubsampledGaussianEvent | LaplaceEvent | PureEvent
  | PateThresholdEvent | PateGnmaxEvent | ComposedEvent;

export type PrivacyEventType = PrivacyEvent['type'];

const FIELDS: Record<PrivacyEventType, { required: string[]; optional: string[] }> = {
  gaussian: { required: ['noise_multiplier'], optional: [] },
  subsampled_gaussian: { required: ['sampling_rate', 'noise_multiplier'], optional: [] },
  laplace: { required: ['scale'], optional: [] },
  pure: { required: ['epsilon'], optional: [] },
  pate_threshold: { required: ['sigma'], optional: ['threshold', 'max_vote'] },
  pate_gnmax: { required: ['sigma'], optional: ['votes'] },
  composed: { required: ['events'], optional: [] },
};

/** The event type names, for help text and error hints. */
export const PRIVACY_EVENT_TYPES = Object.keys(FIELDS) as PrivacyEventType[];

const MAX_DEPTH = 16;
const MAX_VOTE_CLASSES = 100_000;

function fail(field: string, why: string, code = 'E_INVALID_PRIVACY_EVENT'): never {
  throw new UsageError(`${field}: ${why}`, code);
}

function finiteNumber(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(field, `must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function positive(v: unknown, field: string): number {
  const x = finiteNumber(v, field);
  if (!(x > 0)) fail(field, `must be > 0, got ${x}`);
  return x;
}

function validateVotes(v: unknown, field: string): number[] {
  if (!Array.isArray(v)) fail(field, 'must be an array of vote counts');
  if (v.length < 2) fail(field, `needs at least 2 classes, got ${v.length}`);
  if (v.length > MAX_VOTE_CLASSES) fail(field, `has ${v.length} classes; at most ${MAX_VOTE_CLASSES}`);
  return v.map((x, i) => {
    const n = finiteNumber(x, `${field}[${i}]`);
    if (n < 0) fail(`${field}[${i}]`, `votes must be ≥ 0, got ${n}`);
    return n;
  });
}

function validateAt(json: unknown, field: string, depth: number): PrivacyEvent {
  if (depth > MAX_DEPTH) fail(field, `composed events nest deeper than ${MAX_DEPTH}`);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(field, 'must be a JSON object');
  const o = json as Record<string, unknown>;
  const type = o.type;
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    fail(`${field}.type`, `unknown event type ${JSON.stringify(type)}; expected one of ${PRIVACY_EVENT_TYPES.join(', ')}`,
      'E_UNKNOWN_EVENT_TYPE');
  }
  const t = type as PrivacyEventType;
  const spec = FIELDS[t];
  for (const key of Object.keys(o)) {
    if (key !== 'type' && key !== 'count' && key !== 'schema_version' && !spec.required.includes(key) && !spec.optional.includes(key)) {
      fail(`${field}.${key}`, `is not a field of a "${t}" event (fields: ${[...spec.required, ...spec.optional, 'count'].join(', ')})`);
    }
  }
  for (const key of spec.required) if (o[key] === undefined) fail(`${field}.${key}`, `is required for a "${t}" event`);
  if (o.schema_version !== undefined && o.schema_version !== PRIVACY_EVENT_SCHEMA_VERSION) {
    fail(`${field}.schema_version`, `is ${JSON.stringify(o.schema_version)}; this build reads version ${PRIVACY_EVENT_SCHEMA_VERSION}`,
      'E_EVENT_SCHEMA_VERSION');
  }
  const out: Record<string, unknown> = { type: t };
  if (o.count !== undefined) {
    if (typeof o.count !== 'number' || !Number.isSafeInteger(o.count) || o.count < 1) {
      fail(`${field}.count`, `must be a positive integer, got ${JSON.stringify(o.count)}`);
    }
    out.count = o.count;
  }
  switch (t) {
    case 'gaussian':
      out.noise_multiplier = positive(o.noise_multiplier, `${field}.noise_multiplier`);
      break;
    case 'subsampled_gaussian': {
      const q = finiteNumber(o.sampling_rate, `${field}.sampling_rate`);
      if (q < 0 || q > 1) fail(`${field}.sampling_rate`, `must be in [0, 1], got ${q}`);
      out.sampling_rate = q;
      out.noise_multiplier = positive(o.noise_multiplier, `${field}.noise_multiplier`);
      break;
    }
    case 'laplace':
      out.scale = positive(o.scale, `${field}.scale`);
      break;
    case 'pure': {
      const e = finiteNumber(o.epsilon, `${field}.epsilon`);
      if (e < 0) fail(`${field}.epsilon`, `must be ≥ 0, got ${e}`);
      out.epsilon = e;
      break;
    }
    case 'pate_threshold': {
      out.sigma = positive(o.sigma, `${field}.sigma`);
      const hasT = o.threshold !== undefined;
      const hasM = o.max_vote !== undefined;
      if (hasT !== hasM) fail(`${field}.${hasT ? 'max_vote' : 'threshold'}`, 'threshold and max_vote go together (data-dependent form); omit both for the data-independent bound');
      if (hasT) {
        out.threshold = finiteNumber(o.threshold, `${field}.threshold`);
        const m = finiteNumber(o.max_vote, `${field}.max_vote`);
        if (m < 0) fail(`${field}.max_vote`, `must be ≥ 0, got ${m}`);
        out.max_vote = m;
      }
      break;
    }
    case 'pate_gnmax':
      out.sigma = positive(o.sigma, `${field}.sigma`);
      if (o.votes !== undefined) out.votes = validateVotes(o.votes, `${field}.votes`);
      break;
    case 'composed': {
      if (!Array.isArray(o.events)) fail(`${field}.events`, 'must be an array of events');
      out.events = o.events.map((e, i) => validateAt(e, `${field}.events[${i}]`, depth + 1));
      break;
    }
  }
  return out as unknown as PrivacyEvent;
}

/**
 * Checks untrusted JSON against the event schema and returns a clean copy (unknown fields,
 * bad numbers and unknown types are errors naming the field, e.g. `events[2].noise_multiplier`).
 */
export function validatePrivacyEvent(json: unknown, field = 'event'): PrivacyEvent {
  return validateAt(json, field, 0);
}

/**
 * Reads an event list file's content: either a JSON array of events, or
 * `{ "schema_version": 1, "events": [...] }`.
 */
export function validatePrivacyEventList(json: unknown, field = 'events'): PrivacyEvent[] {
  let list = json;
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
    const o = json as Record<string, unknown>;
    if (Object.hasOwn(o, 'type') && !Object.hasOwn(o, 'events')) {
      fail(field, `is one event (type ${JSON.stringify(o.type)}); a list is a JSON array of events, or {"schema_version": ${PRIVACY_EVENT_SCHEMA_VERSION}, "events": [...]}: wrap the event in [ ]`);
    }
    if (o.schema_version !== PRIVACY_EVENT_SCHEMA_VERSION) {
      fail(`${field}.schema_version`, `is ${JSON.stringify(o.schema_version)}; this build reads version ${PRIVACY_EVENT_SCHEMA_VERSION}`,
        'E_EVENT_SCHEMA_VERSION');
    }
    list = o.events;
  }
  if (!Array.isArray(list)) fail(field, 'must be a JSON array of privacy events');
  return list.map((e, i) => validatePrivacyEvent(e, `${field}[${i}]`));
}
