// PATE 2018 analysis against the paper's reference values and independent cases from its reference code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { addThresholdRdp, gnmaxRdp, logPrAnswered, logPrRefused, logqGaussian, maxVote, roundHalfEven } from '../../../shared/privacy/pate-analysis.ts';
import { analyzeConfidentGnmax } from '../../../shared/privacy/pate-accounting.ts';
import { dpAccountingOrders, pate2018Orders } from '../../../shared/privacy/orders.ts';
import { RdpAccountant } from '../../../shared/privacy/rdp-accountant.ts';
import { syntheticVotes } from './synthetic-votes.ts';

const REF = JSON.parse(readFileSync(new URL('./reference-cases.json', import.meta.url), 'utf8'), (_k, v) => (v === 'inf' ? Infinity : v));

function closeAt(order: number, actual: number, expected: number, what: string, rtol?: number): void {
  const tol = rtol ?? (Number.isInteger(order) ? 1e-6 : 1e-4);
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(err <= tol, `${what} at order ${order}: got ${actual}, expected ${expected} (rel. error ${err})`);
}

test('votes [200,30,10,5,5,0…], σ=40: log q = −5.7131036561 and the data-dependent RDP curve', () => {
  const votes = [200, 30, 10, 5, 5, 0, 0, 0, 0, 0];
  closeAt(1, logqGaussian(votes, 40), -5.7131036561, 'log q', 1e-9);
  const orders = [2, 5, 10, 20, 50, 100];
  const expected = [8.382731e-4, 9.249775e-4, 1.1269258e-3, 1.9133087e-3, 1.61543559e-2, 0.0625];
  const rdp = gnmaxRdp(votes, 40, orders);
  // The published figures carry 7–9 significant digits; compare to those.
  orders.forEach((a, i) => closeAt(a, rdp[i]!, expected[i]!, 'GNMax RDP', 1e-6));
});

test('independent cases: log q and GNMax RDP for several histograms and σ', () => {
  for (const c of REF.gnmax) {
    closeAt(1, logqGaussian(c.votes, c.sigma), c.logq, `log q ${JSON.stringify(c.votes)} σ=${c.sigma}`, 1e-9);
    const r = gnmaxRdp(c.votes, c.sigma, c.orders);
    c.orders.forEach((a: number, i: number) => closeAt(a, r[i]!, c.rdp[i], `GNMax ${JSON.stringify(c.votes)} σ=${c.sigma}`));
  }
});

test('independent cases: threshold step (log P[answered] and its RDP)', () => {
  for (const c of REF.threshold) {
    const lp = logPrAnswered(c.T, c.sigma, maxVote(c.votes));
    closeAt(1, lp, c.logpr, 'log P[answered]', 1e-9);
    const out = new Float64Array(c.orders.length);
    addThresholdRdp(c.T, c.sigma, maxVote(c.votes), c.orders, out);
    c.orders.forEach((a: number, i: number) => closeAt(a, out[i]!, c.rdp[i], `threshold T=${c.T} σ=${c.sigma}`));
  }
});

test('threshold step 40σ below the max vote: P[refused] is taken in log space, not as 1 − P[answered] (which underflows to a free step)', () => {
  // T = 10, σ₁ = 4, max vote 170: P[answered] rounds to 1 in double, so the reference's
  // log(1 − P[answered]) is −∞ and its rdp_gaussian returns 0 at every order. The true
  // log q = log Φ(−40) = −804.60844201375379 (mpmath, 40 digits); expected values are the reference's
  // rdp_gaussian(log q, √2·σ₁, orders) with scipy.stats.norm.logcdf for that q (scipy 1.17).
  const orders = [20, 80, 100];
  const expected = [1.9741552025550844e-268, 6.560590424169903e-7, 1.9326534015357184];
  closeAt(1, logPrRefused(10, 4, 170), -804.6084420137538, 'log P[refused]', 1e-12);
  const out = new Float64Array(orders.length);
  addThresholdRdp(10, 4, 170, orders, out);
  orders.forEach((a, i) => closeAt(a, out[i]!, expected[i]!, 'threshold RDP', 1e-9));
  // Through an event, as a data-dependent ledger replays it: 500 such queries are not free.
  const acc = new RdpAccountant({ orders }).compose({ type: 'pate_threshold', sigma: 4, threshold: 10, max_vote: 170, count: 500 });
  closeAt(100, acc.rdp[2]!, 500 * expected[2]!, 'composed threshold RDP', 1e-9);
  // Where it moves ε: beside one Gaussian (z = 20), 100 such queries (T = 5, σ₁ = 1, max vote 50)
  // cost ε = 0.36509466857797 at order 23 (the reference's formulas with scipy's log_ndtr(−45),
  // dp_accounting's orders and conversion); with the underflow they looked free (ε = 0.1816 at order 63).
  const both = new RdpAccountant().compose({ type: 'gaussian', noise_multiplier: 20 }).compose({ type: 'pate_threshold', sigma: 1, threshold: 5, max_vote: 50, count: 100 });
  const eps = both.getEpsilon(1e-5);
  closeAt(23, eps.epsilon, 0.3650946685779753, 'ε', 1e-9);
  assert.equal(eps.order, 23);
});

test('pate_gnmax / pate_threshold events give the same curve as the direct analysis', () => {
  const votes = [200, 30, 10, 5, 5, 0, 0, 0, 0, 0];
  const orders = [2, 5, 10];
  const acc = new RdpAccountant({ orders }).compose({ type: 'pate_gnmax', sigma: 40, votes });
  assert.deepEqual(Array.from(acc.rdp), Array.from(gnmaxRdp(votes, 40, orders)));
  const ind = new RdpAccountant({ orders }).compose({ type: 'pate_gnmax', sigma: 40 }).compose({ type: 'pate_threshold', sigma: 10 });
  orders.forEach((a, i) => closeAt(a, ind.rdp[i]!, a / 1600 + a / 200, 'data-independent'));
});

test('Confident-GNMax run on synthetic votes (640 queries, T=200, σ1=150, σ2=40) matches the reference pipeline', () => {
  // The paper's MNIST figure (≈286 answered, ε=1.97) needs the real teacher votes; this checks
  // the same pipeline on synthetic histograms against the reference code (see docs/privacy.md).
  const c = REF.pate_run;
  const votes = syntheticVotes(640);
  const queries = votes.map((v) => ({ votes: v }));
  const params = { threshold: c.T, sigma1: c.s1, sigma2: c.s2 };
  const classic = analyzeConfidentGnmax(queries, params, { delta: c.delta, cost: 'expected', conversion: 'classic', orders: pate2018Orders() });
  closeAt(1, classic.expected_answered, c.expected_answered, 'expected answered', 1e-9);
  closeAt(c.classic_pate2018[1], classic.epsilon, c.classic_pate2018[0], 'ε (classic, pate2018 orders)');
  assert.equal(classic.order, c.classic_pate2018[1]);
  const improved = analyzeConfidentGnmax(queries, params, { delta: c.delta, orders: dpAccountingOrders() });
  closeAt(c.improved_default[1], improved.epsilon, c.improved_default[0], 'ε (improved, default orders)');
  assert.ok(improved.epsilon_data_independent > improved.epsilon);
});

test('realized cost charges GNMax only for answered queries and needs the answered flags', () => {
  const queries = [{ votes: [240, 10, 0], answered: true }, { votes: [90, 80, 80], answered: false }];
  const params = { threshold: 200, sigma1: 150, sigma2: 40 };
  const r = analyzeConfidentGnmax(queries, params, { delta: 1e-5, cost: 'realized' });
  assert.equal(r.answered, 1);
  const acc = new RdpAccountant()
    .compose({ type: 'pate_threshold', sigma: 150, threshold: 200, max_vote: 240 })
    .compose({ type: 'pate_gnmax', sigma: 40, votes: [240, 10, 0] })
    .compose({ type: 'pate_threshold', sigma: 150, threshold: 200, max_vote: 90 });
  assert.equal(r.epsilon, acc.getEpsilon(1e-5).epsilon);
  assert.throws(() => analyzeConfidentGnmax([{ votes: [1, 2] }], params, { delta: 1e-5, cost: 'realized' }), /queries\[0\]\.answered/);
});

test('max vote is rounded half-to-even like the reference (Python round)', () => {
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(2.4), 2);
});
