// A run's privacy plan: the ε the ledger will reach round by round, and where the budget stops the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateRunConfig } from '../../../server/run-config.ts';
import { describePlan, planRun } from '../../../server/run-plan.ts';
import { RdpAccountant } from '../../../shared/privacy/rdp-accountant.ts';
import { runCli } from '../../../cli/main.ts';

const base = {
  run_id: 'plan', identity: 'id.key', allowlist: 'allow.yaml', database: 'x.db', public_set: 'mnist:test[0:100]',
  strategy: { name: 'dsfl', queries_per_round: 300 }, privacy: { clip: 1, noise_multiplier: 12, epsilon: 40, delta: 1e-5 }, rounds: 5,
};

test('soft labels: the plan is the ledger\'s ε, computed independently from the replace-one charge', () => {
  const plan = planRun(validateRunConfig(base), 10, Infinity);
  // σ = 12·clip over √2·clip + 2⁻²⁰·√10 (the release grid's rounding) + 2⁻²³·√10 (float32 replies
  // with entries ≤ 1 teacher × clip 1), 300 rows per round
  const z = 12 / (Math.SQRT2 + 2 ** -20 * Math.sqrt(10) + 2 ** -23 * Math.sqrt(10));
  const acc = new RdpAccountant();
  for (let r = 0; r < 5; r++) {
    acc.compose({ type: 'gaussian', noise_multiplier: z, count: 300 });
    assert.ok(Math.abs(plan.epsilonPerRound[r]! - acc.getEpsilon(1e-5).epsilon) < 1e-9, `round ${r + 1}`);
  }
  assert.equal(plan.exact, true);
  assert.equal(plan.roundsWithinBudget, 5);
  assert.equal(describePlan(plan).length, 1);
  // a budget between rounds 2 and 3 stops the run after round 2, and the plan says so up front
  const tight = planRun(validateRunConfig({ ...base, privacy: { ...base.privacy, epsilon: (plan.epsilonPerRound[1]! + plan.epsilonPerRound[2]!) / 2 } }), 10, Infinity);
  assert.equal(tight.roundsWithinBudget, 2);
  assert.match(describePlan(tight)[1]!, /the budget stops the run after round 2 of 5; raise privacy\.noise_multiplier/);
});

test('a public set smaller than queries_per_round: the plan charges the rows the aggregator asks (all of the set), as its ledger does', () => {
  // base asks 300 queries of mnist:test[0:100]; samplePublicIndices then asks all 100 samples
  const c = validateRunConfig(base);
  const plan = planRun(c, 10, 100);
  const z = 12 / (Math.SQRT2 + 2 ** -20 * Math.sqrt(10) + 2 ** -23 * Math.sqrt(10));
  assert.deepEqual({ ...plan.roundEvent, noise_multiplier: undefined }, { type: 'gaussian', noise_multiplier: undefined, count: 100 });
  const acc = new RdpAccountant().compose({ type: 'gaussian', noise_multiplier: z, count: 500 });
  assert.ok(Math.abs(plan.epsilonPerRound[4]! - acc.getEpsilon(1e-5).epsilon) < 1e-9);
  assert.ok(plan.epsilonPerRound[4]! < planRun(c, 10, Infinity).epsilonPerRound[4]!, 'planned at queries_per_round rows, it would over-charge');
  const pate = planRun(validateRunConfig({ ...base, strategy: { name: 'pate', queries_per_round: 300, threshold: 200, sigma1: 150, sigma2: 40 } }), 10, 100);
  assert.equal(pate.roundEvent.count, 100);
});

test('PATE: the plan is an upper bound, every query answered at the data-independent cost', () => {
  const c = validateRunConfig({ ...base, strategy: { name: 'pate', queries_per_round: 100, threshold: 200, sigma1: 150, sigma2: 40 }, rounds: 2 });
  const plan = planRun(c, 10, Infinity);
  const acc = new RdpAccountant().compose({ type: 'composed', count: 200, events: [{ type: 'pate_threshold', sigma: 150 }, { type: 'pate_gnmax', sigma: 40 }] });
  assert.ok(Math.abs(plan.epsilonPerRound[1]! - acc.getEpsilon(1e-5).epsilon) < 1e-9);
  assert.equal(plan.exact, false);
  assert.match(describePlan(plan)[0]!, /ε at most /);
});

test('fedistill privacy plan --config prints the plan (text and --json)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-plan-'));
  try {
    const file = join(dir, 'run.yaml');
    writeFileSync(file, JSON.stringify(base));
    const out: string[] = [], err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    assert.equal(await runCli(['privacy', 'plan', '--config', file, '--json'], io), 0, err.join('\n'));
    const j = JSON.parse(out.join(''));
    assert.equal(j.rounds_within_budget, 5);
    assert.equal(j.epsilon_per_round.length, 5);
    assert.equal(j.exact, true);
    // planned on the 100 rows of mnist:test[0:100] that a round asks, not queries_per_round's 300
    assert.deepEqual(j.epsilon_per_round, planRun(validateRunConfig(base), 10, 100).epsilonPerRound);
    out.length = 0;
    assert.equal(await runCli(['privacy', 'plan', '--config', file], io), 0);
    assert.match(out.join('\n'), /^5 round\(s\), ε 15\.\d+ at δ = 0\.00001 after the last/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
