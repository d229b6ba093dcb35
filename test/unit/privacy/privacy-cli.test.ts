// `fedistill privacy epsilon|pate|calibrate` end to end, in process, with --json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { syntheticVotes } from './synthetic-votes.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedistill-privacy-'));
function file(name: string, content: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

test('privacy epsilon reproduces the DP-SGD statement (ε = 0.7242234026, order 19)', async () => {
  const events = file('dpsgd.json', [{ type: 'subsampled_gaussian', sampling_rate: 150 / 60000, noise_multiplier: 1.3, count: 6000 }]);
  const r = await cli('privacy', 'epsilon', '--events', events, '--delta', '1e-5', '--orders',
    '1.25,1.5,1.75,2,2.25,2.5,3,3.5,4,4.5,' + Array.from({ length: 59 }, (_, i) => i + 5).join(',') + ',128,256,512', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.ok(Math.abs(j.epsilon - 0.7242234026) / 0.7242234026 < 1e-6);
  assert.equal(j.order, 19);
  const classic = JSON.parse((await cli('privacy', 'epsilon', '--events', events, '--delta', '1e-5', '--conversion', 'classic', '--json')).out);
  assert.ok(classic.epsilon > j.epsilon);
});

test('privacy pate: expected and realized cost, data-independent-only, and the paper\'s settings', async () => {
  const votes = file('votes.json', syntheticVotes(64));
  const base = ['privacy', 'pate', '--votes', votes, '--threshold', '200', '--sigma1', '150', '--sigma2', '40', '--delta', '1e-5', '--json'];
  const e = JSON.parse((await cli(...base)).out);
  assert.equal(e.queries, 64);
  for (const k of ['expected_answered', 'epsilon', 'order', 'epsilon_data_independent']) assert.equal(typeof e[k], 'number', k);
  const paper = JSON.parse((await cli(...base, '--conversion', 'classic', '--orders', 'pate2018')).out);
  assert.ok(paper.epsilon > e.epsilon);
  const marked = file('marked.json', syntheticVotes(8).map((v, i) => ({ votes: v, answered: i % 2 === 0 })));
  const r = await cli('privacy', 'pate', '--votes', marked, '--threshold', '200', '--sigma1', '150', '--sigma2', '40', '--delta', '1e-5', '--cost', 'realized', '--json');
  assert.equal(JSON.parse(r.out).answered, 4);
  const ind = JSON.parse((await cli(...base, '--data-independent-only')).out);
  assert.equal(ind.epsilon, ind.epsilon_data_independent);
  assert.equal(ind.expected_answered, undefined);
});

test('privacy pate: realized by default with answered flags, expected labelled as no guarantee, vote-free data-independent bound', async () => {
  const votes = syntheticVotes(64);
  const near = votes.map((v) => { const w = [...v]; const t = w.indexOf(Math.max(...w)); w[t]! -= 1; w[(t + 1) % w.length]! += 1; return w; });
  const args = (f: string) => ['privacy', 'pate', '--votes', f, '--threshold', '200', '--sigma1', '150', '--sigma2', '40', '--delta', '1e-5', '--json'];
  const plain = JSON.parse((await cli(...args(file('plain.json', votes)))).out);
  assert.equal(plain.cost, 'expected');
  assert.equal(plain.epsilon_note, 'paper-comparable expectation, not a guarantee');
  assert.equal(plain.data_independent_basis, 'worst-case');
  const plainNear = JSON.parse((await cli(...args(file('plain-near.json', near)))).out);
  assert.notEqual(plainNear.expected_answered, plain.expected_answered);
  assert.equal(plainNear.epsilon_data_independent, plain.epsilon_data_independent, 'the data-independent ε must not move with the votes');
  const human = await cli(...args(file('plain.json', votes)).filter((a) => a !== '--json'));
  assert.match(human.out, /expected cost, improved conversion\): paper-comparable expectation, not a guarantee/);

  const flags = votes.map((_, i) => i % 2 === 0);
  const marked = JSON.parse((await cli(...args(file('m.json', votes.map((v, i) => ({ votes: v, answered: flags[i] })))))).out);
  const markedNear = JSON.parse((await cli(...args(file('m-near.json', near.map((v, i) => ({ votes: v, answered: flags[i] })))))).out);
  assert.equal(marked.cost, 'realized');
  assert.equal(marked.answered, 32);
  assert.equal(marked.data_independent_basis, 'answered-flags');
  assert.equal(markedNear.epsilon_data_independent, marked.epsilon_data_independent);
  assert.ok(marked.epsilon_data_independent < marked.epsilon_data_independent_worst_case);
  assert.equal(marked.epsilon_data_independent_worst_case, plain.epsilon_data_independent);
});

test('privacy pate --smooth-sensitivity releases a sanitized ε', async () => {
  const marked = file('ss.json', [{ votes: [40, 5, 5], answered: true }, { votes: [20, 20, 10], answered: false }]);
  const r = await cli('privacy', 'pate', '--votes', marked, '--threshold', '30', '--sigma1', '8', '--sigma2', '4', '--delta', '1e-5', '--smooth-sensitivity', '--num-teachers', '50', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  // the teacher count is the run's, never read off the votes
  const without = await cli('privacy', 'pate', '--votes', marked, '--threshold', '30', '--sigma1', '8', '--sigma2', '4', '--delta', '1e-5', '--smooth-sensitivity', '--json');
  assert.equal(without.code, 2);
  assert.match(without.err, /--smooth-sensitivity needs --num-teachers N/);
  assert.ok(j.smooth_sensitivity.epsilon > 0 && Number.isFinite(j.smooth_sensitivity.epsilon));
  assert.ok(Number.isFinite(j.smooth_sensitivity.epsilon_upper));
  assert.equal(j.smooth_sensitivity.delta_upper, 2e-5);
  assert.equal(j.smooth_sensitivity.order_source, 'data-independent optimum');
  assert.equal(j.smooth_sensitivity.order, j.order_data_independent);
  // A neighbouring vote file releases at the same order; --ss-order and --ss-gamma override.
  const near = file('ss-near.json', [{ votes: [39, 6, 5], answered: true }, { votes: [20, 20, 10], answered: false }]);
  const k = JSON.parse((await cli('privacy', 'pate', '--votes', near, '--threshold', '30', '--sigma1', '8', '--sigma2', '4', '--delta', '1e-5', '--smooth-sensitivity', '--num-teachers', '50', '--json')).out);
  assert.equal(k.smooth_sensitivity.order, j.smooth_sensitivity.order);
  const u = JSON.parse((await cli('privacy', 'pate', '--votes', marked, '--threshold', '30', '--sigma1', '8', '--sigma2', '4', '--delta', '1e-5',
    '--smooth-sensitivity', '--num-teachers', '50', '--ss-order', '6', '--ss-gamma', '1e-3', '--sigma-ss', '2', '--json')).out);
  assert.deepEqual([u.smooth_sensitivity.order, u.smooth_sensitivity.order_source, u.smooth_sensitivity.gamma, u.smooth_sensitivity.sigma_ss], [6, 'user', 1e-3, 2]);
  assert.equal(u.smooth_sensitivity.delta_upper, 1e-5 + 1e-3);
});

test('privacy calibrate returns the noise multiplier that meets the target', async () => {
  const t = file('template.json', [{ type: 'subsampled_gaussian', sampling_rate: 0.0025, noise_multiplier: '?', count: 6000 }]);
  const r = await cli('privacy', 'calibrate', '--target-epsilon', '1', '--delta', '1e-5', '--events-template', t, '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.ok(j.noise_multiplier > 0.5 && j.epsilon <= 1);
});

test('bad input gives one-line errors with stable codes and usage exit status', async () => {
  const bad = file('bad.json', [{ type: 'gaussian', noise_multiplier: -1 }]);
  let r = await cli('privacy', 'epsilon', '--events', bad, '--delta', '1e-5');
  assert.equal(r.code, 2);
  assert.match(r.err, /events\[0\]\.noise_multiplier: must be > 0, got -1 \[E_INVALID_PRIVACY_EVENT\]/);
  r = await cli('privacy', 'epsilon', '--events', bad, '--delta', '1');
  assert.match(r.err, /--delta must be in \(0, 1\), got 1 \[E_INVALID_DELTA\]/);
  r = await cli('privacy', 'epsilon', '--events', join(dir, 'missing.json'), '--delta', '1e-5');
  assert.match(r.err, /E_FILE_NOT_FOUND/);
  r = await cli('privacy', 'epsilon', '--events', file('notjson.json', '{'), '--delta', '1e-5');
  assert.match(r.err, /E_BAD_JSON/);
  const ok = file('ok.json', [{ type: 'gaussian', noise_multiplier: 1 }]);
  r = await cli('privacy', 'epsilon', '--events', ok, '--delta', '1e-5', '--orders', '1,2');
  assert.match(r.err, /--orders\[0\]: Rényi orders must be > 1, got 1 \[E_INVALID_ORDERS\]/);
  const negVotes = file('neg.json', [[3, -1, 0]]);
  r = await cli('privacy', 'pate', '--votes', negVotes, '--threshold', '1', '--sigma1', '1', '--sigma2', '1', '--delta', '1e-5');
  assert.match(r.err, /votes\[0\]\[1\]: votes must be finite numbers ≥ 0, got -1 \[E_INVALID_VOTES\]/);
  r = await cli('privacy', 'pate', '--votes', file('v.json', [[3, 1]]), '--threshold', '1', '--sigma1', '0', '--sigma2', '1', '--delta', '1e-5');
  assert.match(r.err, /sigma1/);
  const lowOnly = file('low.json', [{ type: 'gaussian', noise_multiplier: 1 }]);
  r = await cli('privacy', 'epsilon', '--events', lowOnly, '--delta', '1e-5', '--orders', '1.005');
  assert.match(r.err, /E_NO_FINITE_ORDER/);
});
