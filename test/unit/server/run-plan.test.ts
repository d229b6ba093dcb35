// A run's privacy plan: the ε the ledger will reach round by round, and where the budget stops the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateRunConfig } from '../../../server/run-config.ts';
import { describePlan, describeSitesPlan, planRun, planSites, readSiteScopeStates, releasedRounds } from '../../../server/run-plan.ts';
import { RunDatabase } from '../../../server/run-database.ts';
import { SITE_SCOPE } from '../../../server/site-scopes.ts';
import { PrivacyLedger } from '../../../shared/privacy/ledger.ts';
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

test('on a database with earlier runs the plan reads each allowlisted site\'s own scope: how many rounds each can still pay, and where quorum fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-plan-sites-'));
  try {
    const c = validateRunConfig({ ...base, quorum: 2, database: join(dir, 'agg.db'), allowlist: join(dir, 'allow.yaml') });
    const plan = planRun(c, 10, 100);
    // an earlier run charged site-a 3 rounds and site-b 4, each under the budget of ε 40 (5 rounds here reach ~15)
    const db = new RunDatabase(c.database);
    const ledger = new PrivacyLedger(db);
    const budget = { epsilon: plan.epsilonPerRound[4]!, delta: 1e-5 };
    for (const [site, rounds] of [['site-a', 3], ['site-b', 4]] as const) {
      ledger.setBudget(SITE_SCOPE(site), budget);
      for (let r = 0; r < rounds; r++) assert.equal(ledger.tryCharge(plan.roundEvent, { scope: SITE_SCOPE(site) }).status, 'accepted');
    }
    db.close();
    const key = (b: number) => Buffer.alloc(32, b).toString('base64');
    writeFileSync(c.allowlist, `sites:\n  "${key(1)}": site-a\n  "${key(2)}": site-b\n  "${key(3)}": site-c\n`);
    const read = readSiteScopeStates(c.database, () => ['site-a', 'site-b', 'site-c'], 'plan')!;
    assert.equal(read.fromRound, 0, 'no round of this run completed');
    const sites = planSites(c, plan.roundEvent, read.scopes);
    // the budget pays 5 rounds in all: site-a has 2 left, site-b 1, site-c (new, the run's budget of 40) all 5
    assert.deepEqual(sites.sites.map((s) => [s.site, s.rounds]), [['site-a', 2], ['site-b', 1], ['site-c', 5]]);
    assert.ok(Math.abs(sites.sites[0]!.spent_epsilon - plan.epsilonPerRound[2]!) < 1e-9);
    assert.equal(sites.rounds, 2, 'quorum 2: site-c and site-a can pay 2 rounds');
    const lines = describeSitesPlan(sites, plan);
    assert.match(lines[0]!, /spent in earlier runs: of the 5 round\(s\) left, each can still pay site-b 1 \(ε \S+ of \S+ spent\), site-a 2 /);
    assert.match(lines[1]!, /only 2 more round\(s\) have quorum 2 sites that can pay: the run stops before round 3 of 5/);
    // the same database as a run of this id resumed after its round 3: the sites' scopes hold those rounds,
    // and only the 2 rounds left are planned (no false "stops early")
    const resumed = planSites(c, plan.roundEvent, read.scopes.map((s) => (s.site === 'site-c' ? s : { ...s, spent: s.spent.slice(0, 3) })), 3);
    assert.deepEqual(resumed.sites.map((s) => s.rounds), [2, 2, 2]);
    assert.deepEqual(describeSitesPlan(resumed, plan), []);
    // the same through `fedistill privacy plan --json`, with the database opened read-only
    const file = join(dir, 'run.yaml');
    writeFileSync(file, JSON.stringify({ ...base, quorum: 2, database: c.database, allowlist: c.allowlist }));
    const out: string[] = [], err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    assert.equal(await runCli(['privacy', 'plan', '--config', file, '--json'], io), 0, err.join('\n'));
    const j = JSON.parse(out.join(''));
    assert.equal(j.rounds_sites_can_pay, 2);
    assert.deepEqual(j.sites.map((s: { site: string; rounds: number }) => s.rounds), [2, 1, 5]);
    // read from the database: the run's releases say how far it got; round 3 released (charged) but not
    // completed before a crash counts as behind it (it is re-sent at no charge)
    const rdb = new RunDatabase(c.database);
    rdb.createRun('plan', '{}', 'h');
    for (let r = 0; r < 3; r++) {
      rdb.startRound('plan', r);
      rdb.insertRelease('plan', r, 'soft', Uint8Array.of(r), { round: r }, ['site-a']);
      if (r < 2) rdb.completeRound('plan', r, {});
    }
    assert.equal(releasedRounds(rdb, 'plan'), 3, 'the server\'s figure');
    assert.equal(releasedRounds(rdb, 'another-run'), 0);
    rdb.close();
    assert.equal(readSiteScopeStates(c.database, () => ['site-a'], 'plan')!.fromRound, 3, 'the CLI\'s, read-only');
    assert.equal(readSiteScopeStates(c.database, () => ['site-a'], 'another-run')!.fromRound, 0);
    out.length = 0;
    assert.equal(await runCli(['privacy', 'plan', '--config', file, '--json'], io), 0, err.join('\n'));
    assert.equal(JSON.parse(out.join('')).rounds_released, 3);
    // no database yet (a first run): no sites part, and the allowlist is not needed
    writeFileSync(file, JSON.stringify({ ...base, database: join(dir, 'none.db'), allowlist: join(dir, 'missing.yaml') }));
    out.length = 0;
    assert.equal(await runCli(['privacy', 'plan', '--config', file, '--json'], io), 0, err.join('\n'));
    assert.equal(JSON.parse(out.join('')).sites, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
