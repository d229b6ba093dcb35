// The accountant against the published reference values and independent cases from the reference analyses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RdpAccountant, epsilonFromEvents } from '../../../shared/privacy/rdp-accountant.ts';
import { epsilonFromRdp, deltaFromRdp } from '../../../shared/privacy/rdp-conversion.ts';
import { laplaceRdp, poissonSubsampledGaussianRdp, pureEpsilonRdp } from '../../../shared/privacy/rdp-mechanisms.ts';
import { dpAccountingOrders, parseOrders, pate2018Orders } from '../../../shared/privacy/orders.ts';
import { FedistillError } from '../../../shared/util/errors.ts';

const REF = JSON.parse(readFileSync(new URL('./reference-cases.json', import.meta.url), 'utf8'), (_k, v) => (v === 'inf' ? Infinity : v));

/** rtol 1e-6 at integer orders, 1e-4 at fractional ones (the acceptance tolerances). */
function closeAt(order: number, actual: number, expected: number, what: string, rtol?: number): void {
  if (expected === Infinity) { assert.equal(actual, Infinity, what); return; }
  const tol = rtol ?? (Number.isInteger(order) ? 1e-6 : 1e-4);
  const err = Math.abs(actual - expected) / Math.abs(expected);
  assert.ok(err <= tol, `${what} at order ${order}: got ${actual}, expected ${expected} (rel. error ${err})`);
}

test('improved conversion: RDP 1.1 at orders 2…32, δ=1e-5 → ε = 1.32783806176 at order 32', () => {
  const orders = Array.from({ length: 31 }, (_, i) => i + 2);
  const r = epsilonFromRdp(orders, orders.map(() => 1.1), 1e-5);
  closeAt(32, r.epsilon, 1.32783806176, 'ε', 1e-10);
  assert.equal(r.order, 32);
});

test('Poisson q=0.01, σ=2.5, 50 steps: RDP at [1.5, 2.5, 5, 50, 100, ∞] (dp_accounting test_compute_rdp_poisson_sampled_gaussian, rtol 1e-4)', () => {
  const orders = [1.5, 2.5, 5, 50, 100, Infinity];
  const expected = [6.5007e-4, 1.0854e-3, 2.1808e-3, 2.3846e-2, 1.6742e+2, Infinity];
  const acc = new RdpAccountant({ orders }).compose({ type: 'subsampled_gaussian', sampling_rate: 0.01, noise_multiplier: 2.5, count: 50 });
  orders.forEach((a, i) => closeAt(a, acc.rdp[i]!, expected[i]!, 'RDP', 1e-4));
});

test('DP-SGD statement: n=60000, b=150, z=1.3, 15 epochs, δ=1e-5 → ε = 0.7242234026 at order 19', () => {
  const n = 60000, b = 150;
  const orders = [1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5];
  for (let a = 5; a <= 63; a++) orders.push(a);
  orders.push(128, 256, 512);
  const r = epsilonFromEvents([{ type: 'subsampled_gaussian', sampling_rate: b / n, noise_multiplier: 1.3, count: Math.ceil((15 * n) / b) }], 1e-5, { orders });
  closeAt(19, r.epsilon, 0.7242234026, 'ε');
  assert.equal(r.order, 19);
});

test('Laplace scale 1 (ε=1): RDP 0.6191236300 at α=2 and 0.9286829021 at α=10', () => {
  closeAt(2, laplaceRdp(1, 2), 0.6191236300, 'Laplace');
  closeAt(10, laplaceRdp(1, 10), 0.9286829021, 'Laplace');
  assert.equal(laplaceRdp(1, Infinity), 1);
});

test('independent cases: Poisson-subsampled Gaussian at integer and fractional orders', () => {
  for (const c of REF.psg) {
    c.orders.forEach((a: number, i: number) => closeAt(a, poissonSubsampledGaussianRdp(c.q, c.sigma, a), c.rdp[i], `psg q=${c.q} σ=${c.sigma}`));
  }
});

/**
 * log A_α by numerical quadrature of E_{x~N(0,σ²)}[((1−q) + q·e^{(2x−1)/(2σ²)})^α] (mpmath, 40 digits), divided by α − 1.
 * At fractional orders the series has terms with negative binomial coefficients: summed as positive,
 * the RDP came out 1.07× (q 0.01, σ 1, α 1.1) to 39× (q 0.3, σ 10, α 1.1) too large.
 */
const QUADRATURE: [q: number, sigma: number, order: number, rdp: number][] = [
  [0.3, 50, 1.1, 1.9802106684e-05], [0.3, 50, 2.5, 4.5010081703e-05], [0.1, 50, 1.5, 3.0005400525e-06],
  [0.3, 10, 1.1, 0.0004963161341748797], [0.3, 10, 2.5, 0.001131326697810248], [0.3, 10, 7.3, 0.0033373940541103365],
  [0.3, 3, 2.5, 0.013315627064906436], [0.01, 1, 1.1, 9.241471084686958e-05], [0.01, 1, 3.7, 0.0003329356253956371],
  [0.5, 0.5, 2.5, 3.84948713503491], [0.1, 0.8, 3.7, 0.22233062437262557], [0.02, 1.5, 1.5, 0.00016680446029414554],
];

test('Poisson-subsampled Gaussian at fractional orders equals numerical quadrature (rtol 1e-7), large σ and q included', () => {
  for (const [q, sigma, order, rdp] of QUADRATURE) closeAt(order, poissonSubsampledGaussianRdp(q, sigma, order), rdp, `psg q=${q} σ=${sigma}`, 1e-7);
});

test('independent cases: Laplace and pure-ε (randomized response) curves', () => {
  for (const c of REF.laplace) c.orders.forEach((a: number, i: number) => closeAt(a, laplaceRdp(c.scale, a), c.rdp[i], `laplace b=${c.scale}`));
  for (const c of REF.pure) c.orders.forEach((a: number, i: number) => closeAt(a, pureEpsilonRdp(c.epsilon, a), c.rdp[i], `pure ε=${c.epsilon}`));
});

test('independent case: DP-SGD with default orders, ε at δ and δ at ε', () => {
  const c = REF.dpsgd_default;
  const acc = new RdpAccountant().compose({ type: 'subsampled_gaussian', sampling_rate: c.q, noise_multiplier: c.sigma, count: c.count });
  const e = acc.getEpsilon(c.delta);
  closeAt(c.eps[1], e.epsilon, c.eps[0], 'ε');
  assert.equal(e.order, c.eps[1]);
  const d = acc.getDelta(2.0);
  closeAt(8, d.delta, c.delta_at_eps2[0], 'δ', 1e-4);
  assert.equal(d.order, c.delta_at_eps2[1]);
});

test('classic conversion is rdp − log δ/(α−1) and never below the improved one here', () => {
  const orders = [2, 4, 8];
  const rdp = [0.5, 1, 2];
  const classic = epsilonFromRdp(orders, rdp, 1e-5, 'classic');
  const expected = Math.min(...orders.map((a, i) => rdp[i]! - Math.log(1e-5) / (a - 1)));
  assert.equal(classic.epsilon, expected);
  assert.ok(epsilonFromRdp(orders, rdp, 1e-5, 'improved').epsilon < classic.epsilon);
  const d = deltaFromRdp(orders, rdp, classic.epsilon, 'classic');
  assert.ok(Math.abs(d.delta - 1e-5) / 1e-5 < 1e-9);
});

test('composition is additive and composed events equal their parts', () => {
  const a = new RdpAccountant().compose({ type: 'gaussian', noise_multiplier: 2, count: 3 }).compose({ type: 'laplace', scale: 4 });
  const b = new RdpAccountant().compose({ type: 'composed', count: 1, events: [{ type: 'gaussian', noise_multiplier: 2, count: 3 }, { type: 'laplace', scale: 4 }] });
  assert.deepEqual(Array.from(a.rdp), Array.from(b.rdp));
  const c = new RdpAccountant().compose({ type: 'composed', count: 2, events: [{ type: 'gaussian', noise_multiplier: 2 }] });
  const d = new RdpAccountant().compose({ type: 'gaussian', noise_multiplier: 2, count: 2 });
  assert.deepEqual(Array.from(c.rdp), Array.from(d.rdp));
});

test('numerical failure drops an order (∞) and no finite order is an error, never a smaller ε', () => {
  const acc = new RdpAccountant({ orders: [2, 4] });
  acc.addRdpCurve([NaN, -1]);
  assert.deepEqual(Array.from(acc.rdp), [Infinity, Infinity]);
  assert.throws(() => acc.getEpsilon(1e-5), (e: unknown) => e instanceof FedistillError && e.code === 'E_NO_FINITE_ORDER');
  const acc2 = new RdpAccountant({ orders: [2, 4] }).addRdpCurve([NaN, 1]);
  assert.equal(acc2.getEpsilon(1e-5).order, 4);
});

test('bad input: δ outside (0,1) and orders ≤ 1 are errors naming the field', () => {
  const acc = new RdpAccountant({ orders: [2] });
  assert.throws(() => acc.getEpsilon(0), /delta: must be in \(0, 1\)/);
  assert.throws(() => acc.getEpsilon(1.5), /delta/);
  assert.throws(() => new RdpAccountant({ orders: [1] }), /orders\[0\]: Rényi orders must be > 1/);
  assert.throws(() => parseOrders('2,abc'), /--orders: "abc"/);
});

test('order sets: dp_accounting default and PATE 2018', () => {
  const d = dpAccountingOrders();
  assert.equal(d.length, 156);
  assert.equal(d[0], 1.1);
  assert.equal(d[98], 10.9);
  assert.deepEqual(d.slice(-4), [128, 256, 512, 1024]);
  const p = pate2018Orders();
  assert.equal(p.length, 298);
  assert.equal(p[197], 100.5);
  assert.ok(Math.abs(p[p.length - 1]! - 500) < 1e-9);
  assert.deepEqual(parseOrders('1.5,2,inf'), [1.5, 2, Infinity]);
});
