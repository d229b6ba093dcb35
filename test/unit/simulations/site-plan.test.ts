// Site planning: a partition that cannot be made is refused in the scenario's words, before the partitioner runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateScenario } from '../../../simulations/scenario.ts';
import { checkDataSets, planSites } from '../../../simulations/site-plan.ts';

const scenario = (sites: number, partition: Record<string, unknown> = {}) => validateScenario({
  name: 'plan', rounds: 1,
  data: { dataset: 'mnist:train[0:600]', public_set: 'mnist:test[0:20]', eval_set: 'mnist:test[20:40]', partition },
  sites: { count: sites }, strategy: { name: 'dsfl' },
});

const refusal = (field: RegExp) => (e: Error & { code?: string; exitCode?: number }) => {
  assert.match(e.message, field);
  assert.doesNotMatch(e.message, /clients/);
  assert.equal(e.code, 'E_SCENARIO_INVALID');
  assert.equal(e.exitCode, 2);
  return true;
};

test('more sites than private samples is sites.count, E_SCENARIO_INVALID, not the partitioner\'s clients', () => {
  for (const scheme of ['iid', 'dirichlet', 'shards', 'quantity']) {
    assert.throws(() => planSites(scenario(700, { scheme })),
      refusal(/^sites\.count: 700 sites but data\.dataset has only 600 samples \(mnist:train\[0:600\]\); every site needs at least one: use fewer sites or a larger split$/), scheme);
  }
});

test('more shards than private samples is data.partition.shards, in sites', () => {
  assert.throws(() => planSites(scenario(3, { scheme: 'shards', shards: 300 })),
    refusal(/^data\.partition\.shards: 3 sites × 300 shards = 900 shards but data\.dataset has only 600 samples/));
});

test('a partition that fits is planned: one share per site, every sample assigned once', () => {
  const data = planSites(scenario(600, { scheme: 'iid' }));
  assert.equal(data.sites.length, 600);
  assert.equal(data.partition.assigned, 600);
  assert.equal(data.partition.sizes.min, 1);
});

const withData = (data: Record<string, string>) => validateScenario({
  name: 'plan', rounds: 1, sites: { count: 3 }, strategy: { name: 'dsfl' },
  data: { dataset: 'mnist:train[0:600]', public_set: 'mnist:test[0:20]', eval_set: 'mnist:test[20:40]', ...data },
});

test('a public or eval set that shares samples with the private pool, or eval with public, is refused naming both', () => {
  const refused = (data: Record<string, string>, message: RegExp) => {
    assert.throws(() => checkDataSets(withData(data)), refusal(message), JSON.stringify(data));
    assert.throws(() => planSites(withData(data)), refusal(message), JSON.stringify(data));
  };
  refused({ public_set: 'mnist:train[500:700]' },
    /^data\.public_set: mnist:train\[500:700\] shares the samples mnist:train\[500:600\] with data\.dataset \(the private pool\) mnist:train\[0:600\]: predictions on public samples leave the sites/);
  refused({ public_set: 'mnist:train[-60000:100]' }, /^data\.public_set: .* shares the samples mnist:train\[0:100\]/);
  refused({ eval_set: 'mnist:train[590:610]' }, /^data\.eval_set: .* shares the samples mnist:train\[590:600\] with data\.dataset .*inflated/);
  refused({ eval_set: 'mnist:test[10:30]' }, /^data\.eval_set: mnist:test\[10:30\] shares the samples mnist:test\[10:20\] with data\.public_set mnist:test\[0:20\]: the students distill/);
});

test('an eval set of another dataset is refused; disjoint ranges of one split, or a public set of another dataset, are accepted', () => {
  assert.throws(() => checkDataSets(withData({ eval_set: 'fashion-mnist:test[0:20]' })),
    refusal(/^data\.eval_set: fashion-mnist:test\[0:20\] is fashion-mnist but data\.dataset mnist:train\[0:600\] is mnist/));
  checkDataSets(withData({ public_set: 'mnist:train[600:700]', eval_set: 'mnist:train[-100:]' }));
  checkDataSets(withData({ public_set: 'fashion-mnist:test[0:20]' }));
});

test('a Dirichlet partition no draw can make is E_PARTITION_INFEASIBLE with advice in the scenario\'s settings (it has no minimum size to lower)', () => {
  assert.throws(() => planSites(scenario(30, { scheme: 'dirichlet', alpha: 0.01 })), (e: Error & { code?: string; exitCode?: number }) => {
    assert.equal(e.code, 'E_PARTITION_INFEASIBLE');
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /^no Dirichlet\(alpha=0\.01\) draw in 1000 attempts gave all 30 clients at least 10 samples; raise data\.partition\.alpha or use fewer sites \(sites\.count\)$/);
    return true;
  });
});
