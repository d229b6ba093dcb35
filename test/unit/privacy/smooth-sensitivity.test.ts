// Local and smooth sensitivity of PATE's RDP against the reference values and the reference code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  discountedMax, gnssRdp, localSensitivityBoundsGnmax, localSensitivityBoundsThreshold,
} from '../../../shared/privacy/smooth-sensitivity.ts';
import { releaseSmoothSensitivityEpsilon } from '../../../shared/privacy/pate-accounting.ts';
import { epsilonAtOrder } from '../../../shared/privacy/rdp-conversion.ts';
import { ndtri } from '../../../shared/privacy/special-functions.ts';

const REF = JSON.parse(readFileSync(new URL('./reference-cases.json', import.meta.url), 'utf8'));

function close(actual: number, expected: number, rtol: number, what: string): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(err <= rtol, `${what}: got ${actual}, expected ${expected} (rel. error ${err})`);
}

test('GNMax local sensitivity, votes [10,0,0], 10 teachers, σ=0.5, order 1.5 (published values)', () => {
  const ls = localSensitivityBoundsGnmax([10, 0, 0], 10, 0.5, 1.5);
  const expected = [3.13503646e-17, 1.60178280e-8, 5.90681786e-3, ...new Array(7).fill(5.99981308)];
  assert.equal(ls.length, 10);
  expected.forEach((e, d) => close(ls[d]!, e, 1e-4, `LS at distance ${d}`)); // fractional order: rtol 1e-4
});

test('independent cases: GNMax local sensitivity at integer orders', () => {
  for (const c of REF.ls_gnmax) {
    const ls = localSensitivityBoundsGnmax(c.votes, c.teachers, c.sigma, c.order);
    c.ls.forEach((e: number, d: number) => close(ls[d]!, e, 1e-6, `LS ${JSON.stringify(c.votes)} d=${d}`));
  }
});

test('independent case: threshold-step local sensitivity', () => {
  for (const c of REF.ls_threshold) {
    const ls = localSensitivityBoundsThreshold(c.votes, c.teachers, c.T, c.sigma, c.order);
    c.ls.forEach((e: number, d: number) => {
      if (e === 0) assert.equal(ls[d], 0);
      else close(ls[d]!, e, 1e-6, `threshold LS d=${d}`);
    });
  }
});

test('smooth sensitivity discounts by e^{−βd}; GNSS RDP follows Theorem 23 and rejects orders ≥ 1/(2β)', () => {
  assert.equal(discountedMax(0.5, [1, 4, 1]), 4 * Math.exp(-0.5));
  const beta = 0.01, sigma = 10, order = 20;
  close(gnssRdp(beta, sigma, order), (order * Math.exp(2 * beta)) / 100 + (-0.5 * Math.log(1 - 2 * order * beta) + beta * order) / (order - 1), 1e-15, 'gnss');
  assert.throws(() => gnssRdp(0.1, 10, 6), /outside/);
});

test('smooth-sensitivity release: with zero noise it publishes the data-dependent RDP plus the GNSS cost', () => {
  const queries = [{ votes: [40, 5, 5], answered: true }, { votes: [20, 20, 10], answered: false }];
  const params = { threshold: 30, sigma1: 8, sigma2: 4 };
  const r = releaseSmoothSensitivityEpsilon(queries, params, { delta: 1e-5, order: 8, numTeachers: 50 }, () => 0);
  assert.ok(r.private_smooth_sensitivity > 0);
  const expectedRdp = r.private_rdp_data_dependent + r.gnss_rdp;
  close(r.epsilon, expectedRdp + Math.log1p(-1 / 8) - (Math.log(1e-5) + Math.log(8)) / 7, 1e-12, 'released ε');
  const noisy = releaseSmoothSensitivityEpsilon(queries, params, { delta: 1e-5, order: 8, numTeachers: 50 }, () => 1);
  assert.ok(noisy.epsilon > r.epsilon);
  assert.throws(() => releaseSmoothSensitivityEpsilon(queries, params, { delta: 1e-5, order: 8, numTeachers: 50, beta: 0.1 }, () => 0), /beta/);
});

test('smooth-sensitivity release: both published figures are recomputed from its public fields alone, a floored (negative) noisy RDP included', () => {
  const queries = [{ votes: [40, 5, 5], answered: true }, { votes: [20, 20, 10], answered: false }, { votes: [35, 10, 5], answered: true }];
  const params = { threshold: 30, sigma1: 8, sigma2: 4 };
  for (const draws of [[0.3, -0.2], [-40, 0.5]]) {
    let k = 0;
    const r = releaseSmoothSensitivityEpsilon(queries, params, { delta: 1e-5, order: 8, numTeachers: 50 }, () => draws[k++]!);
    // from the output only: rdp_noisy, smooth_sensitivity_upper, gnss_rdp, log_ss_rdp, sigma_ss, gamma, order, δ
    close(r.epsilon, epsilonAtOrder(r.order, Math.max(0, r.rdp_noisy) + r.gnss_rdp, 1e-5, 'improved'), 1e-12, 'ε̃');
    const upperRdp = Math.max(0, r.rdp_noisy + r.smooth_sensitivity_upper * r.sigma_ss * ndtri(1 - r.gamma / 2)) + r.gnss_rdp + r.log_ss_rdp;
    close(r.epsilon_upper, epsilonAtOrder(r.order, upperRdp, 1e-5, 'improved'), 1e-12, 'ε⁺');
    close(r.rdp_noisy, r.private_rdp_data_dependent + r.private_smooth_sensitivity * r.sigma_ss * draws[0]!, 1e-12, 'rdp̃');
  }
  // a draw of −40 floors ε̃ at convert(gnss_rdp): the estimate then carries nothing of the votes
  let k = 0;
  const floored = releaseSmoothSensitivityEpsilon(queries, params, { delta: 1e-5, order: 8, numTeachers: 50 }, () => [-40, 0][k++]!);
  assert.ok(floored.rdp_noisy < 0);
  close(floored.epsilon, epsilonAtOrder(8, floored.gnss_rdp, 1e-5, 'improved'), 1e-12, 'floor');
});
