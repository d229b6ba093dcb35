// Noise calibration: the smallest noise parameter whose composed events meet a target ε at δ.
import { FedistillError, UsageError } from '../util/errors.ts';
import { type PrivacyEvent, validatePrivacyEventList } from './events.ts';
import { type EpsilonFromEventsOptions, epsilonFromEvents } from './rdp-accountant.ts';

/** The placeholder a template uses for the noise parameter being calibrated. */
export const CALIBRATION_PLACEHOLDER = '?';
const NOISE_FIELDS = new Set(['noise_multiplier', 'scale', 'sigma']);

/** Replaces every placeholder noise field in a template (deeply, through composed events). */
function substitute(json: unknown, value: number, found: { n: number }): unknown {
  if (Array.isArray(json)) return json.map((x) => substitute(x, value, found));
  if (json !== null && typeof json === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      if (NOISE_FIELDS.has(k) && v === CALIBRATION_PLACEHOLDER) { out[k] = value; found.n++; }
      else out[k] = substitute(v, value, found);
    }
    return out;
  }
  return json;
}

export interface Calibration {
  /** The calibrated noise parameter (noise multiplier, Laplace scale or PATE σ). */
  noise: number;
  epsilon: number;
  order: number;
  events: PrivacyEvent[];
}

/** The path of the first data-dependent PATE event (votes or max_vote given), or undefined. */
function dataDependentEvent(events: readonly PrivacyEvent[], path: string): string | undefined {
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const at = `${path}[${i}]`;
    if (e.type === 'pate_gnmax' && e.votes !== undefined) return `${at}.votes`;
    if (e.type === 'pate_threshold' && e.max_vote !== undefined) return `${at}.max_vote`;
    if (e.type === 'composed') {
      const inner = dataDependentEvent(e.events, `${at}.events`);
      if (inner) return inner;
    }
  }
  return undefined;
}

/**
 * Finds the smallest noise value (to relative 1e-9) for the template's "?" fields such that
 * ε ≤ target at δ. ε decreases with noise for every data-independent event type, so bisection
 * on log(noise) is exact; the value returned always meets the target (the upper end of the
 * bracket). Data-dependent PATE events (with votes or max_vote) are refused: their ε is not
 * monotone in σ (more noise can raise the Theorem 6 bound), and a noise level tuned on private
 * votes would itself leak them.
 */
export function calibrateNoise(template: unknown, targetEpsilon: number, delta: number, options: EpsilonFromEventsOptions = {}): Calibration {
  if (!(targetEpsilon > 0) || !Number.isFinite(targetEpsilon)) throw new UsageError(`target-epsilon: must be a finite number > 0, got ${targetEpsilon}`, 'E_INVALID_EPSILON');
  const found = { n: 0 };
  const probe = validatePrivacyEventList(substitute(template, 1, found), 'template');
  const dependent = dataDependentEvent(probe, 'template');
  if (dependent) {
    throw new UsageError(`${dependent}: calibration takes data-independent events only; drop the votes (PATE's data-dependent ε is not monotone in the noise, and tuning noise on private votes leaks them)`, 'E_INVALID_PRIVACY_EVENT');
  }
  if (found.n === 0) {
    throw new UsageError(`template: no noise field is "${CALIBRATION_PLACEHOLDER}"; mark the parameter to calibrate, e.g. {"type":"gaussian","noise_multiplier":"?","count":100}`, 'E_NOTHING_TO_CALIBRATE');
  }
  const at = (noise: number) => {
    const events = validatePrivacyEventList(substitute(template, noise, { n: 0 }), 'template');
    let eps: { epsilon: number; order: number };
    try { eps = epsilonFromEvents(events, delta, options); } catch (e) {
      if (e instanceof FedistillError && e.code === 'E_NO_FINITE_ORDER') eps = { epsilon: Infinity, order: NaN };
      else throw e;
    }
    return { noise, events, ...eps };
  };
  let lo = 1;
  let hi = 1;
  if (at(1).epsilon <= targetEpsilon) {
    while (at(lo).epsilon <= targetEpsilon) {
      lo /= 2;
      if (lo < 1e-12) throw new FedistillError('E_CALIBRATION_FAILED', 'even a noise of 1e-12 meets the target; check the template');
    }
    hi = lo * 2;
  } else {
    while (at(hi).epsilon > targetEpsilon) {
      hi *= 2;
      if (hi > 1e12) throw new FedistillError('E_CALIBRATION_FAILED', `no noise up to 1e12 reaches ε ≤ ${targetEpsilon}; the target is out of reach for these events`);
    }
    lo = hi / 2;
  }
  for (let i = 0; i < 200 && hi / lo - 1 > 1e-9; i++) {
    const mid = Math.sqrt(lo * hi);
    if (at(mid).epsilon <= targetEpsilon) hi = mid; else lo = mid;
  }
  const r = at(hi);
  return { noise: r.noise, epsilon: r.epsilon, order: r.order, events: r.events };
}
