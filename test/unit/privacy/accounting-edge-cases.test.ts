// Accounting at the edges: stored events that no longer validate, 10⁵ events, extreme σ, odd order lists, closed-form references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RdpAccountant, epsilonFromEvents } from '../../../shared/privacy/rdp-accountant.ts';
import { pureEpsilonRdp } from '../../../shared/privacy/rdp-mechanisms.ts';
import { MemoryLedgerStore, PrivacyLedger } from '../../../shared/privacy/ledger.ts';
import type { PrivacyEvent } from '../../../shared/privacy/events.ts';
import { FedistillError } from '../../../shared/util/errors.ts';

const code = (c: string) => (e: unknown) => e instanceof FedistillError && e.code === c;

test('a stored ledger event that no longer validates stops accounting (E_LEDGER_CORRUPT), never counts as free', () => {
  for (const bad of [{ type: 'discrete_gaussian', noise_multiplier: 1 }, { type: 'gaussian', noise_multiplier: 1, count: -100 }, { type: 'gaussian', noise_multiplier: null }]) {
    const store = new MemoryLedgerStore();
    const ledger = new PrivacyLedger(store);
    ledger.setBudget('s', { epsilon: 1, delta: 1e-5 });
    // What an edited or damaged database row looks like once read back.
    store.atomically((tx) => tx.append({ scope: 's', event: bad as unknown as PrivacyEvent, at: '2025-01-01T00:00:00.000Z' }));
    assert.throws(() => ledger.spent('s'), code('E_LEDGER_CORRUPT'), JSON.stringify(bad));
    assert.throws(() => ledger.tryCharge({ type: 'gaussian', noise_multiplier: 50 }, { scope: 's' }), code('E_LEDGER_CORRUPT'));
    assert.equal(store.atomically((tx) => tx.count('s')), 1, 'nothing was appended');
  }
});

test('the accountant refuses unvalidated events instead of adding nothing or subtracting', () => {
  const acc = new RdpAccountant({ orders: [2, 8] });
  assert.throws(() => acc.compose({ type: 'bogus' } as unknown as PrivacyEvent), code('E_UNKNOWN_EVENT_TYPE'));
  assert.throws(() => acc.compose({ type: 'gaussian', noise_multiplier: 1, count: -1 }), code('E_INVALID_PRIVACY_EVENT'));
  assert.throws(() => acc.compose({ type: 'gaussian', noise_multiplier: 1 }, -2), code('E_INVALID_PRIVACY_EVENT'));
  assert.deepEqual(Array.from(acc.rdp), [0, 0], 'a refused event leaves the totals as they were');
});

test('10⁵ DP-SGD steps replayed one by one: fast, and equal to the same event with count 10⁵', () => {
  const step: PrivacyEvent = { type: 'subsampled_gaussian', sampling_rate: 0.01, noise_multiplier: 1.1 };
  const t0 = performance.now();
  const acc = new RdpAccountant();
  for (let i = 0; i < 100_000; i++) acc.compose(step);
  const one = acc.getEpsilon(1e-5);
  const ms = performance.now() - t0;
  const counted = epsilonFromEvents([{ ...step, count: 100_000 }], 1e-5);
  assert.ok(ms < 10_000, `took ${ms} ms`);
  assert.equal(one.order, counted.order);
  assert.ok(Math.abs(one.epsilon - counted.epsilon) <= 1e-9 * counted.epsilon, `${one.epsilon} vs ${counted.epsilon}`);
  assert.ok(one.epsilon > 1 && one.epsilon < 100, String(one.epsilon));
});

test('zero, one and repeated events; extreme σ stays finite and monotone', () => {
  assert.equal(epsilonFromEvents([], 1e-5).epsilon, 0);
  const one = epsilonFromEvents([{ type: 'gaussian', noise_multiplier: 1 }], 1e-5).epsilon;
  assert.ok(one > 0 && Number.isFinite(one));
  const sigmas = [1e-6, 1e-3, 1, 1e3, 1e6];
  for (const type of ['gaussian', 'subsampled_gaussian'] as const) {
    const eps = sigmas.map((z) => epsilonFromEvents([type === 'gaussian' ? { type, noise_multiplier: z } : { type, sampling_rate: 0.01, noise_multiplier: z }], 1e-5).epsilon);
    for (const e of eps) assert.ok(Number.isFinite(e) && e >= 0, `${type}: ${eps}`);
    for (let i = 1; i < eps.length; i++) assert.ok(eps[i]! <= eps[i - 1]!, `${type}: more noise never costs more: ${eps}`);
  }
  // σ = 1e-6: essentially no noise, so ε is huge (α/(2σ²) at the smallest order), not a small number.
  assert.ok(epsilonFromEvents([{ type: 'gaussian', noise_multiplier: 1e-6 }], 1e-5).epsilon > 1e11);
});

test('δ outside (0, 1) is E_INVALID_DELTA; duplicate or unsorted orders give the sorted set\'s ε', () => {
  for (const d of [0, 1, -1e-5, 1.5, Number.NaN]) {
    assert.throws(() => epsilonFromEvents([{ type: 'gaussian', noise_multiplier: 1 }], d), code('E_INVALID_DELTA'), String(d));
  }
  const ev: PrivacyEvent[] = [{ type: 'subsampled_gaussian', sampling_rate: 0.02, noise_multiplier: 1.5, count: 100 }];
  const sorted = epsilonFromEvents(ev, 1e-5, { orders: [1.5, 2, 4, 8, 16, 32] });
  const messy = epsilonFromEvents(ev, 1e-5, { orders: [32, 4, 4, 1.5, 16, 2, 8, 2] });
  assert.deepEqual(messy, sorted);
  assert.throws(() => epsilonFromEvents(ev, 1e-5, { orders: [2, 1] }), code('E_INVALID_ORDERS'));
});

test('Gaussian mechanism, classic conversion: min over α of α/(2σ²) + log(1/δ)/(α−1) = ρ + 2√(ρ·log(1/δ)), ρ = 1/(2σ²)', () => {
  // Mironov 2017 (Prop. 3 and 7); the closed form is Bun & Steinke 2016, Prop. 1.3, for ρ-zCDP.
  const orders: number[] = [];
  for (let a = 1.001; a < 200; a += 0.001) orders.push(a);
  for (const [sigma, delta] of [[1, 1e-5], [4, 1e-6], [0.8, 1e-3]] as const) {
    const rho = 1 / (2 * sigma * sigma);
    const expected = rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
    const got = epsilonFromEvents([{ type: 'gaussian', noise_multiplier: sigma }], delta, { orders, conversion: 'classic' });
    assert.ok(Math.abs(got.epsilon - expected) < 1e-6, `σ=${sigma}: ${got.epsilon} vs ${expected}`);
    assert.ok(Math.abs(got.order - (1 + Math.sqrt(Math.log(1 / delta) / rho))) < 2e-3, `optimal order ${got.order}`);
    // The improved conversion (Canonne–Kamath–Steinke 2020) is never worse.
    assert.ok(epsilonFromEvents([{ type: 'gaussian', noise_multiplier: sigma }], delta, { orders }).epsilon < got.epsilon);
  }
});

test('PATE data-independent bounds (Papernot et al. 2018, Prop. 8): GNMax α/σ², threshold α/(2σ²), as the discrete-noise GNMax is charged', () => {
  const acc = new RdpAccountant({ orders: [2, 10, 100] });
  acc.compose({ type: 'pate_gnmax', sigma: 40, count: 3 });
  const close = (got: ArrayLike<number>, want: number[]) => want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-15 * w, `${got[i]} vs ${w}`));
  close(acc.rdp, [2, 10, 100].map((a) => (3 * a) / 1600));
  const thr = new RdpAccountant({ orders: [2, 10, 100] }).compose({ type: 'pate_threshold', sigma: 150 });
  close(thr.rdp, [2, 10, 100].map((a) => a / (2 * 22500)));
});

test('ε-DP events at orders next to 1: the randomized-response curve keeps its digits, so the KL shortcut cannot make them free', () => {
  // Limit α → 1 of the curve is the KL divergence of randomized response, ε·tanh(ε/2) (Mironov 2017, Prop. 5);
  // values at α = 2 and 1024 are 80-digit mpmath evaluations of (εα + log(1 + e^{ε(1−2α)}) − log(1 + e^ε))/(α − 1).
  for (const eps of [0.01, 0.1, 1, 5]) {
    const kl = eps * Math.tanh(eps / 2);
    for (let k = 1; k <= 64; k++) {
      const r = pureEpsilonRdp(eps, 1 + k * 2 ** -52);
      assert.ok(Math.abs(r - kl) <= 1e-12 * kl, `ε=${eps}, α=1+${k}·2⁻⁵²: ${r} vs KL ${kl}`);
    }
  }
  for (const [eps, a, want] of [[1, 2, 0.7353256640555192], [0.01, 1024, 0.009327312141525282], [1e-6, 2, 9.999999999995832e-13], [30, 1.1, 29.999999999999066]] as const) {
    assert.ok(Math.abs(pureEpsilonRdp(eps, a) - want) <= 1e-14 * want, `ε=${eps}, α=${a}: ${pureEpsilonRdp(eps, a)} vs ${want}`);
  }
  // 1000 LNMax-style 0.1-DP answers are not free at α = 1 + 7·2⁻⁵² (they came out as ε = 0 there).
  const got = epsilonFromEvents([{ type: 'pure', epsilon: 0.1, count: 1000 }], 1e-5, { orders: [1.0000000000000007, 2, 4, 8, 16, 32, 64] });
  assert.ok(got.epsilon > 10, JSON.stringify(got));
});

test('orders ≤ 1.01 take no part in the improved conversion, KL shortcut included: a curve that lost its digits there cannot make ε 0', () => {
  // 10 Poisson-subsampled Gaussian steps (q = 3·10⁻⁴, z = 0.7). Their KL divergence is at least
  // 3·10⁻⁶ (the RDP at α = 1.001 bounds it from above, and RDP grows with α) so at δ = 10⁻³
  // (δ² = 10⁻⁶) the shortcut ε = 0 does not hold; the series at α = 1 + 7.6·10⁻¹¹ says 1.1·10⁻⁷.
  const ev: PrivacyEvent[] = [{ type: 'subsampled_gaussian', sampling_rate: 3e-4, noise_multiplier: 0.7, count: 10 }];
  const orders = [1.5, 2, 4, 8, 16, 32, 64];
  const without = epsilonFromEvents(ev, 1e-3, { orders });
  const withNearOne = epsilonFromEvents(ev, 1e-3, { orders: [1.0000000000763833, ...orders] });
  assert.deepEqual(withNearOne, without);
  assert.ok(without.epsilon > 0.5, JSON.stringify(without));
  const acc = new RdpAccountant({ orders: [1.0000000000763833, ...orders] }).compose(ev[0]!);
  assert.notEqual(acc.getDelta(0).order, 1.0000000000763833, 'nor δ from ε');
  // dp_accounting's own order grid starts at 1.1, so its KL shortcut is unchanged there: z = 10⁶
  // (RDP 5.5·10⁻¹³ at α = 1.1, below δ² = 10⁻¹⁰) is free at δ = 10⁻⁵.
  assert.deepEqual(epsilonFromEvents([{ type: 'gaussian', noise_multiplier: 1e6 }], 1e-5), { epsilon: 0, order: 1.1 });
});
