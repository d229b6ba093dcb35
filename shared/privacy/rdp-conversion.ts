// From an RDP curve to (ε, δ): the improved conversion (default) and the classic one, both ways.
import { FedistillError, UsageError } from '../util/errors.ts';

/**
 * `improved`: ε = rdp + log1p(−1/α) − (log δ + log α)/(α − 1) (Canonne–Kamath–Steinke 2020,
 * Prop. 12; Balle et al. 2020), with dp_accounting's KL shortcut (δ² + e^{−rdp} > 1 ⇒ ε = 0)
 * and α ≤ 1.01 excluded. Unlike dp_accounting, orders ≤ 1.01 are excluded from the KL shortcut
 * too: the mechanisms' curves lose their digits there (the fractional subsampled-Gaussian series
 * came out 250 times too small at α = 1 + 6·10⁻¹⁰), and an RDP value that is too small would let
 * the shortcut call a costly event free. `classic`: ε = rdp − log δ / (α − 1) (Mironov 2017,
 * Prop. 3), which is what the PATE 2018 paper used.
 */
export type RdpConversion = 'improved' | 'classic';

export interface EpsilonAtOrder { epsilon: number; order: number }
export interface DeltaAtOrder { delta: number; order: number }

/** Orders at or below this take no part in the improved conversion (nor its KL shortcut): see RdpConversion. */
const MIN_IMPROVED_ORDER = 1.01;

/** A usable RDP value: NaN and negative values come from numerical failure and count as +∞. */
function sane(r: number): number {
  return Number.isNaN(r) || r < 0 ? Infinity : r;
}

/** ε at one order, or +∞ when that order gives no finite bound. */
export function epsilonAtOrder(order: number, rdp: number, delta: number, conversion: RdpConversion): number {
  const r = sane(rdp);
  if (r === Infinity) return Infinity;
  if (order === Infinity) return r;
  if (conversion === 'classic') return r - Math.log(delta) / (order - 1);
  if (!(order > MIN_IMPROVED_ORDER)) return Infinity;
  if (delta * delta + Math.expm1(-r) > 0) return 0;
  return r + Math.log1p(-1 / order) - (Math.log(delta) + Math.log(order)) / (order - 1);
}

function checkDelta(delta: number): void {
  if (!(delta > 0 && delta < 1)) throw new UsageError(`delta: must be in (0, 1), got ${delta}`, 'E_INVALID_DELTA');
}

/**
 * The smallest ε over the orders. Throws E_NO_FINITE_ORDER when every order is infinite, rather
 * than returning a number nobody should publish.
 */
export function epsilonFromRdp(
  orders: ArrayLike<number>, rdp: ArrayLike<number>, delta: number, conversion: RdpConversion = 'improved',
): EpsilonAtOrder {
  checkDelta(delta);
  if (orders.length !== rdp.length) throw new RangeError('orders and rdp differ in length');
  let best = Infinity;
  let bestOrder = NaN;
  for (let i = 0; i < orders.length; i++) {
    const e = epsilonAtOrder(orders[i]!, rdp[i]!, delta, conversion);
    if (e < best) { best = e; bestOrder = orders[i]!; }
  }
  if (best === Infinity) {
    throw new FedistillError('E_NO_FINITE_ORDER',
      'no Rényi order gives a finite ε for these events (every order was infinite or failed numerically); add higher or lower orders, or use more noise');
  }
  return { epsilon: Math.max(0, best), order: bestOrder };
}

/** The smallest δ over the orders for a target ε (δ capped at 1). */
export function deltaFromRdp(
  orders: ArrayLike<number>, rdp: ArrayLike<number>, epsilon: number, conversion: RdpConversion = 'improved',
): DeltaAtOrder {
  if (!(epsilon >= 0) || !Number.isFinite(epsilon)) throw new UsageError(`epsilon: must be a finite number ≥ 0, got ${epsilon}`, 'E_INVALID_EPSILON');
  let bestLog = Infinity;
  let bestOrder = NaN;
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]!;
    const r = sane(rdp[i]!);
    let logDelta: number;
    if (r === Infinity) logDelta = Infinity;
    else if (a === Infinity) logDelta = r <= epsilon ? -Infinity : Infinity;
    else if (conversion === 'classic') logDelta = (a - 1) * (r - epsilon);
    else if (!(a > MIN_IMPROVED_ORDER)) logDelta = Infinity;
    else {
      logDelta = r === 0 ? -Infinity : 0.5 * Math.log1p(-Math.exp(-r));
      logDelta = Math.min(logDelta, (a - 1) * (r - epsilon + Math.log1p(-1 / a)) - Math.log(a));
    }
    if (logDelta < bestLog) { bestLog = logDelta; bestOrder = a; }
  }
  if (bestLog === Infinity) return { delta: 1, order: orders.length ? orders[0]! : NaN };
  return { delta: Math.min(Math.exp(bestLog), 1), order: bestOrder };
}
