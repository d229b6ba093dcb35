// The RDP accountant: composes privacy events order by order and converts the total to (ε, δ).
import { FedistillError } from '../util/errors.ts';
import { type PrivacyEvent, validatePrivacyEvent } from './events.ts';
import { dpAccountingOrders, validateOrders } from './orders.ts';
import { gaussianRdp, laplaceRdp, poissonSubsampledGaussianRdp, pureEpsilonRdp } from './rdp-mechanisms.ts';
import {
  addGnmaxRdp, addThresholdRdp, gnmaxRdpDataIndependent, logqGaussian, thresholdRdpDataIndependent,
} from './pate-analysis.ts';
import {
  type DeltaAtOrder, type EpsilonAtOrder, type RdpConversion, deltaFromRdp, epsilonFromRdp,
} from './rdp-conversion.ts';

export interface AccountantOptions {
  /** Rényi orders (each > 1; ∞ allowed). Default: dp_accounting's DEFAULT_RDP_ORDERS. */
  orders?: readonly number[];
}

export interface ConversionOptions {
  /** Default 'improved'. */
  conversion?: RdpConversion;
}

/**
 * Composes privacy events by adding their RDP at each order (RDP composition is additive), and
 * converts the total to (ε, δ). An order whose computation fails numerically becomes +∞ and so
 * drops out of the minimum: a failure can only make ε larger, never smaller.
 */
export class RdpAccountant {
  readonly orders: Float64Array;
  /** Total RDP at each order. */
  readonly rdp: Float64Array;
  private readonly scratch: Float64Array;
  /** Identifies the order list in the shared curve cache (built on first use: clones are frequent). */
  private ordersKey: string | undefined;

  constructor(options: AccountantOptions = {}) {
    this.orders = Float64Array.from(validateOrders(options.orders ?? dpAccountingOrders()));
    this.rdp = new Float64Array(this.orders.length);
    this.scratch = new Float64Array(this.orders.length);
  }

  /** Adds one validated event (its RDP × count × times). Untrusted JSON goes through composeJson. */
  compose(event: PrivacyEvent, times = 1): this {
    const n = times * (event.count ?? 1);
    // A negative or NaN multiplier would subtract privacy loss, and a fraction or 0 would charge less
    // than one release: only unvalidated input can carry one (validatePrivacyEvent wants count ≥ 1).
    if (!(Number.isSafeInteger(times) && times >= 1 && Number.isSafeInteger(n) && n >= 1)) {
      throw new FedistillError('E_INVALID_PRIVACY_EVENT', `event count × times must be a positive integer, got ${event.count ?? 1} × ${times}`);
    }
    this.scratch.fill(0);
    this.addEventRdp(event, this.scratch);
    for (let i = 0; i < this.rdp.length; i++) {
      const v = this.scratch[i]!;
      this.rdp[i] += Number.isNaN(v) || v < 0 ? Infinity : n * v;
    }
    return this;
  }

  /** Validates untrusted JSON, then composes it. */
  composeJson(json: unknown): this {
    return this.compose(validatePrivacyEvent(json));
  }

  /** Adds the RDP curve of one occurrence of `event` (its own count included for composed children) into out. */
  private addEventRdp(event: PrivacyEvent, out: Float64Array): void {
    const orders = this.orders;
    switch (event.type) {
      case 'gaussian':
        for (let i = 0; i < orders.length; i++) out[i] += gaussianRdp(event.noise_multiplier, orders[i]!);
        return;
      case 'subsampled_gaussian': {
        // ~3 ms per curve (series at fractional orders): a 10⁵-step ledger repeats one (q, z), so cache it.
        const curve = cachedCurve(`${this.ordersKey ??= Array.from(orders).join(',')}|${event.sampling_rate}|${event.noise_multiplier}`, () => {
          const c = new Float64Array(orders.length);
          for (let i = 0; i < orders.length; i++) {
            c[i] = safe(() => poissonSubsampledGaussianRdp(event.sampling_rate, event.noise_multiplier, orders[i]!));
          }
          return c;
        });
        for (let i = 0; i < orders.length; i++) out[i] += curve[i]!;
        return;
      }
      case 'laplace':
        for (let i = 0; i < orders.length; i++) out[i] += safe(() => laplaceRdp(event.scale, orders[i]!));
        return;
      case 'pure':
        for (let i = 0; i < orders.length; i++) out[i] += safe(() => pureEpsilonRdp(event.epsilon, orders[i]!));
        return;
      case 'pate_threshold':
        if (event.threshold === undefined || event.max_vote === undefined) {
          for (let i = 0; i < orders.length; i++) out[i] += thresholdRdpDataIndependent(event.sigma, orders[i]!);
        } else {
          addThresholdRdp(event.threshold, event.sigma, event.max_vote, orders, out);
        }
        return;
      case 'pate_gnmax':
        if (event.votes === undefined) {
          for (let i = 0; i < orders.length; i++) out[i] += gnmaxRdpDataIndependent(event.sigma, orders[i]!);
        } else {
          addGnmaxRdp(logqGaussian(event.votes, event.sigma), event.sigma, orders, out);
        }
        return;
      case 'composed': {
        const sub = new Float64Array(orders.length);
        for (const e of event.events) {
          sub.fill(0);
          this.addEventRdp(e, sub);
          const n = e.count ?? 1;
          // as for a top-level event: a child's fraction, 0 or negative count would charge less than it says
          if (!(Number.isSafeInteger(n) && n >= 1)) throw new FedistillError('E_INVALID_PRIVACY_EVENT', `a composed event's child count must be a positive integer, got ${n}`);
          for (let i = 0; i < orders.length; i++) out[i] += n * sub[i]!;
        }
        return;
      }
      default:
        // Only unvalidated events get here (e.g. read back from a store): never count them as free.
        throw new FedistillError('E_UNKNOWN_EVENT_TYPE',
          `cannot account privacy event type ${JSON.stringify((event as { type?: unknown }).type)}; validate events with validatePrivacyEvent first`);
    }
  }

  /** Adds a raw RDP curve (same orders) — for analyses that compute curves themselves. */
  addRdpCurve(curve: ArrayLike<number>, weight = 1): this {
    if (curve.length !== this.rdp.length) throw new RangeError('curve length differs from the number of orders');
    for (let i = 0; i < this.rdp.length; i++) {
      const v = curve[i]!;
      this.rdp[i] += Number.isNaN(v) || v < 0 ? Infinity : weight * v;
    }
    return this;
  }

  /** The (ε, order) for a δ; throws E_NO_FINITE_ORDER when no order is finite. */
  getEpsilon(delta: number, options: ConversionOptions = {}): EpsilonAtOrder {
    return epsilonFromRdp(this.orders, this.rdp, delta, options.conversion ?? 'improved');
  }

  /** The (δ, order) for an ε. */
  getDelta(epsilon: number, options: ConversionOptions = {}): DeltaAtOrder {
    return deltaFromRdp(this.orders, this.rdp, epsilon, options.conversion ?? 'improved');
  }

  /** A copy, to ask "what if" without changing this one. */
  clone(): RdpAccountant {
    const c = new RdpAccountant({ orders: Array.from(this.orders) });
    c.rdp.set(this.rdp);
    return c;
  }
}

const CURVE_CACHE_MAX = 256;
const curveCache = new Map<string, Float64Array>();

/** A computed RDP curve, shared by every accountant (read-only; cleared when it grows past CURVE_CACHE_MAX). */
function cachedCurve(key: string, compute: () => Float64Array): Float64Array {
  let c = curveCache.get(key);
  if (c === undefined) {
    c = compute();
    if (curveCache.size >= CURVE_CACHE_MAX) curveCache.clear();
    curveCache.set(key, c);
  }
  return c;
}

/** A numerically failed order (exception or NaN) counts as +∞, never as a smaller value. */
function safe(f: () => number): number {
  try {
    const v = f();
    return Number.isNaN(v) || v < 0 ? Infinity : v;
  } catch {
    return Infinity;
  }
}

export interface EpsilonFromEventsOptions extends AccountantOptions, ConversionOptions {}

/**
 * One call for the common question: what (ε, order) does this list of events cost at δ? Each event
 * is validated first (E_INVALID_PRIVACY_EVENT naming it and its field), as `privacy epsilon` does:
 * events replayed from a file must not charge less than they say.
 */
export function epsilonFromEvents(events: readonly PrivacyEvent[], delta: number, options: EpsilonFromEventsOptions = {}): EpsilonAtOrder {
  const acc = new RdpAccountant(options);
  events.forEach((e, i) => acc.compose(validatePrivacyEvent(e, `events[${i}]`)));
  return acc.getEpsilon(delta, options);
}
