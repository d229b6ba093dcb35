// What a PATE run may publish: vote-free data-independent bounds, labelled expectations, and a smooth-sensitivity release at a public order with a high-probability upper bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyzeConfidentGnmax, dataIndependentRdp, publicReleaseOrder, releaseSmoothSensitivityEpsilon,
} from '../../../shared/privacy/pate-accounting.ts';
import { gnmaxRdpDataIndependent, thresholdRdpDataIndependent } from '../../../shared/privacy/pate-analysis.ts';
import { epsilonAtOrder, epsilonFromRdp } from '../../../shared/privacy/rdp-conversion.ts';
import { pate2018Orders } from '../../../shared/privacy/orders.ts';
import { confidentGnmax } from '../../../shared/privacy/noisy-max.ts';
import { CryptoRng, type RandomSource } from '../../../shared/privacy/rng.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import { syntheticVotes } from './synthetic-votes.ts';

/** Deterministic words on purpose: these tests need reproducible noise draws, never a release does. */
function seededSource(seed: string): RandomSource {
  const prng = new SeededRng(seed);
  return { fill(words) { for (let i = 0; i < words.length; i++) words[i] = Math.floor(prng.next() * 2 ** 32) >>> 0; } };
}

/** One teacher moves its vote from the top class to the next class, in every query: a neighbouring dataset. */
function neighbour(votes: readonly number[][]): number[][] {
  return votes.map((v) => { const w = [...v]; const t = w.indexOf(Math.max(...w)); w[t]! -= 1; w[(t + 1) % w.length]! += 1; return w; });
}

const params = { threshold: 200, sigma1: 150, sigma2: 40 };
const paper = { delta: 1e-5, orders: pate2018Orders(), conversion: 'classic' as const };

test('data-independent ε does not depend on the votes: worst case without answered flags, answered count with them', () => {
  const votes = syntheticVotes(200);
  const near = neighbour(votes);
  const exp = analyzeConfidentGnmax(votes.map((v) => ({ votes: v })), params, paper);
  const expNear = analyzeConfidentGnmax(near.map((v) => ({ votes: v })), params, paper);
  assert.equal(exp.cost, 'expected');
  assert.notEqual(exp.expected_answered, expNear.expected_answered, 'the neighbour must change P[answered]');
  assert.equal(exp.epsilon_data_independent, expNear.epsilon_data_independent);
  assert.equal(exp.data_independent_basis, 'worst-case');
  // Every query charged α/(2σ₁²) + α/σ₂², whatever the votes.
  const worst = paper.orders.map((a) => 200 * (thresholdRdpDataIndependent(150, a) + gnmaxRdpDataIndependent(40, a)));
  assert.equal(exp.epsilon_data_independent, epsilonFromRdp(paper.orders, worst, 1e-5, 'classic').epsilon);
  assert.equal(exp.epsilon_data_independent_worst_case, exp.epsilon_data_independent);

  const rng = new CryptoRng(seededSource('pate-publication/h2'));
  let realizedAbove = 0;
  for (let t = 0; t < 20; t++) {
    const answered = votes.map((v) => confidentGnmax(v, params, rng).answered);
    const real = analyzeConfidentGnmax(votes.map((v, i) => ({ votes: v, answered: answered[i]! })), params, paper);
    const realNear = analyzeConfidentGnmax(near.map((v, i) => ({ votes: v, answered: answered[i]! })), params, paper);
    assert.equal(real.epsilon_data_independent, realNear.epsilon_data_independent, 'same answers, neighbouring votes');
    assert.equal(real.data_independent_basis, 'answered-flags');
    const count = answered.filter(Boolean).length;
    assert.equal(real.epsilon_data_independent, epsilonFromRdp(paper.orders, dataIndependentRdp(200, count, params, paper.orders), 1e-5, 'classic').epsilon);
    // The expected-mode bound is the worst case, so it is never below what a draw actually charged.
    assert.ok(exp.epsilon_data_independent >= real.epsilon_data_independent);
    if (real.epsilon > exp.epsilon) realizedAbove++;
  }
  assert.ok(realizedAbove > 0, 'realized ε exceeds the expected one on some draws: the expectation is not a bound');
});

test('cost defaults to realized when every query carries its answered flag; expected ε is labelled as no guarantee', () => {
  const votes = syntheticVotes(20);
  const flagged = analyzeConfidentGnmax(votes.map((v, i) => ({ votes: v, answered: i % 3 === 0 })), params, { delta: 1e-5 });
  assert.equal(flagged.cost, 'realized');
  assert.equal(flagged.answered, 7);
  assert.match(flagged.epsilon_note, /private/);
  const plain = analyzeConfidentGnmax(votes.map((v) => ({ votes: v })), params, { delta: 1e-5 });
  assert.equal(plain.cost, 'expected');
  assert.equal(plain.epsilon_note, 'paper-comparable expectation, not a guarantee');
});

test('the release order is public: λ and β stay put when one teacher changes its vote in every query', () => {
  const votes = syntheticVotes(120);
  const answered = votes.map((_, i) => i % 2 === 0);
  const qs = votes.map((v, i) => ({ votes: v, answered: answered[i]! }));
  const near = neighbour(votes).map((v, i) => ({ votes: v, answered: answered[i]! }));
  const lambda = publicReleaseOrder(qs.length, 60, params, 1e-5, paper.orders, 'classic');
  assert.equal(lambda, analyzeConfidentGnmax(qs, params, paper).order_data_independent);
  assert.equal(publicReleaseOrder(near.length, 60, params, 1e-5, paper.orders, 'classic'), lambda);
  const a = releaseSmoothSensitivityEpsilon(qs, params, { delta: 1e-5, order: lambda, numTeachers: 250, conversion: 'classic' }, () => 0);
  const b = releaseSmoothSensitivityEpsilon(near, params, { delta: 1e-5, order: lambda, numTeachers: 250, conversion: 'classic' }, () => 0);
  assert.equal(a.order, b.order);
  assert.equal(a.beta, b.beta);
  assert.notEqual(a.private_rdp_data_dependent, b.private_rdp_data_dependent, 'the neighbour must change the private value');
});

test('smooth-sensitivity upper bound ≥ the data-dependent ε in ≥ 1 − γ of seeded draws; the estimate is not a bound', () => {
  // Small and fast: 24 queries, 30 teachers, 4 classes; 200 release draws at a fixed answer pattern.
  const p = { threshold: 20, sigma1: 5, sigma2: 4 };
  const votes = Array.from({ length: 24 }, (_, i) => [30 - (i % 9), i % 9, 0, 0]);
  const qs = votes.map((v, i) => ({ votes: v, answered: i % 3 !== 2 }));
  const order = publicReleaseOrder(qs.length, 16, p, 1e-5, [2, 3, 4, 6, 8, 12, 16, 24, 32], 'improved');
  const gamma = 0.2;
  const rng = new CryptoRng(seededSource('pate-publication/h3'));
  const draws = 200;
  let upperFails = 0;
  let estimateBelow = 0;
  let truth = NaN;
  for (let t = 0; t < draws; t++) {
    const r = releaseSmoothSensitivityEpsilon(qs, p, { delta: 1e-5, order, numTeachers: 30, gamma, sigmaSs: 2 }, () => rng.gaussian());
    // The data-dependent ε at λ of the run plus everything this release publishes.
    truth = epsilonAtOrder(order, r.private_rdp_data_dependent + r.gnss_rdp + r.log_ss_rdp, 1e-5, 'improved');
    if (r.epsilon_upper < truth) upperFails++;
    if (r.epsilon < truth) estimateBelow++;
    assert.equal(r.delta_upper, 1e-5 + gamma);
  }
  const run = analyzeConfidentGnmax(qs, p, { delta: 1e-5, orders: [2, 3, 4, 6, 8, 12, 16, 24, 32] });
  assert.ok(truth >= run.epsilon, 'ε at the public order is at least the optimum over orders');
  // Binomial(200, 0.2) exceeds 0.2 + 3σ (≈ 0.285) with probability ~1e-3; the bound is conservative (about 3% fail
  // here), while dropping the SS⁺ margin would fail about half of the draws.
  assert.ok(upperFails / draws <= gamma + 3 * Math.sqrt(gamma * (1 - gamma) / draws), `upper bound failed in ${upperFails}/${draws}`);
  assert.ok(estimateBelow / draws > 0.25, `the estimate was below the true ε in only ${estimateBelow}/${draws} draws`);
});

test('the release validates γ and σ_ss, and the default γ = δ reports δ_upper = 2δ', () => {
  const qs = [{ votes: [40, 5, 5], answered: true }, { votes: [20, 20, 10], answered: false }];
  const p = { threshold: 30, sigma1: 8, sigma2: 4 };
  const r = releaseSmoothSensitivityEpsilon(qs, p, { delta: 1e-5, order: 8, numTeachers: 50 }, () => 0);
  assert.equal(r.gamma, 1e-5);
  assert.equal(r.delta_upper, 2e-5);
  assert.ok(r.epsilon_upper > r.epsilon, 'with zero noise the upper bound adds the margin and the log-SS cost');
  assert.equal(r.log_ss_rdp, 8 / 200);
  assert.throws(() => releaseSmoothSensitivityEpsilon(qs, p, { delta: 1e-5, order: 8, numTeachers: 50, gamma: 1 }, () => 0), /gamma/);
  assert.throws(() => releaseSmoothSensitivityEpsilon(qs, p, { delta: 1e-5, order: 8, numTeachers: 50, sigmaLogSs: 0 }, () => 0), /sigma_log_ss/);
});

test('the released smooth sensitivity is β-smooth between neighbours (threshold profiles are taken within distance d, per query)', () => {
  // 250 teachers, 10 classes: a query's vote histogram with a given max vote.
  const votesWithMax = (cm: number): number[] => {
    const v = new Array(10).fill(0);
    v[0] = cm;
    let rest = 250 - cm;
    for (let c = 1; c < 10 && rest > 0; c++) { const x = Math.min(cm, rest); v[c] = x; rest -= x; }
    return v;
  };
  const params = { threshold: 200, sigma1: 50, sigma2: 40 };
  const order = publicReleaseOrder(640, 286, params, 1e-5);
  const beta = 0.2 / order;
  const ss = (a: number, b: number) => releaseSmoothSensitivityEpsilon(
    [{ votes: votesWithMax(a), answered: false }, { votes: votesWithMax(b), answered: false }], params, { delta: 1e-5, order, numTeachers: 250 }, () => 0,
  ).private_smooth_sensitivity;
  // One teacher changing its vote moves both max votes by one: SS(D) ≤ e^β·SS(D′) must hold.
  // Summing the "at distance d" profiles gave a log ratio of 20.9·β here.
  for (const [a, b, a2, b2] of [[26, 140, 27, 141], [27, 141, 26, 140], [60, 200, 61, 199], [140, 180, 139, 181]] as const) {
    const r = Math.log(ss(a, b) / ss(a2, b2));
    assert.ok(r <= beta * (1 + 1e-9), `(${a},${b}) → (${a2},${b2}): log SS ratio ${r} > β = ${beta}`);
  }
});

test('a smooth-sensitivity release with fewer teachers than a query\'s votes is refused (it printed a null ε before)', () => {
  const q = [{ votes: [30, 10, 5], answered: true }];
  assert.throws(() => releaseSmoothSensitivityEpsilon(q, { threshold: 20, sigma1: 5, sigma2: 3 }, { delta: 1e-5, order: 8, numTeachers: 40 }, () => 0),
    { code: 'E_INVALID_VOTES', message: /add up to 45, more than num_teachers 40/ });
});
