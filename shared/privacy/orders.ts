// Rényi orders: the published default sets (dp_accounting, PATE 2018) and parsing of user lists.
import { UsageError } from '../util/errors.ts';

/** dp_accounting's DEFAULT_RDP_ORDERS: 1.1 … 10.9 by 0.1, 11 … 63, 128, 256, 512, 1024. */
export function dpAccountingOrders(): number[] {
  const out: number[] = [];
  for (let x = 1; x < 100; x++) out.push(1 + x / 10);
  for (let a = 11; a < 64; a++) out.push(a);
  out.push(128, 256, 512, 1024);
  return out;
}

/**
 * The PATE 2018 analysis orders, exactly as its scripts build them:
 * np.arange(2, 101, 0.5) (2 … 100.5, 198 orders), then np.logspace(log10 100, log10 500, 100).
 */
export function pate2018Orders(): number[] {
  const out: number[] = [];
  for (let i = 0; i < 198; i++) out.push(2 + i * 0.5);
  const lo = Math.log10(100);
  const hi = Math.log10(500);
  for (let i = 0; i < 100; i++) out.push(10 ** (lo + ((hi - lo) * i) / 99));
  return out;
}

/** Checks a list of orders: each > 1 (∞ allowed), finite otherwise, no NaN. */
export function validateOrders(orders: readonly number[], field = 'orders'): number[] {
  if (orders.length === 0) throw new UsageError(`${field}: needs at least one order`, 'E_INVALID_ORDERS');
  return orders.map((a, i) => {
    if (Number.isNaN(a) || !(a > 1)) throw new UsageError(`${field}[${i}]: Rényi orders must be > 1, got ${a}`, 'E_INVALID_ORDERS');
    return a;
  });
}

/** Parses `dp-accounting`, `pate2018` or a comma list like `1.5,2,32,inf`. */
export function parseOrders(spec: string, field = '--orders'): number[] {
  if (spec === 'dp-accounting' || spec === 'default') return dpAccountingOrders();
  if (spec === 'pate2018') return pate2018Orders();
  const parts = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const orders = parts.map((s) => {
    const v = s === 'inf' || s === 'Infinity' ? Infinity : Number(s);
    if (Number.isNaN(v)) throw new UsageError(`${field}: "${s}" is not a number (use dp-accounting, pate2018 or a list like 2,4,8)`, 'E_INVALID_ORDERS');
    return v;
  });
  return validateOrders(orders, field);
}
