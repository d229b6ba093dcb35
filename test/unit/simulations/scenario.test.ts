// Scenario files: shipped scenarios validate, defaults are filled, mistakes name their field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadScenario, modelOfSite, validateScenario } from '../../../simulations/scenario.ts';
import { resolveSimModel } from '../../../simulations/sim-models.ts';

const DIR = 'simulations/scenarios';

const minimal = () => ({
  name: 'm', rounds: 2,
  data: { dataset: 'mnist:train[0:100]', public_set: 'mnist:test[0:50]', eval_set: 'mnist:test[50:100]' },
  sites: { count: 2 },
  strategy: { name: 'dsfl' },
});

test('every shipped simulate scenario validates', () => {
  // (the folder also holds scenarios of other commands, e.g. attack-mnist.yaml for `audit attack`)
  const files = ['tiny.yaml', 'dsfl-mnist-noniid.yaml', 'fedmd-fashion.yaml', 'faults-dropout.yaml', 'pate-mnist.yaml'];
  for (const f of files) {
    const s = loadScenario(join(DIR, f));
    assert.ok(s.name.length > 0, f);
  }
});

test('the DS-FL non-IID scenario is 10 sites with Dirichlet α = 0.1', () => {
  const s = loadScenario(join(DIR, 'dsfl-mnist-noniid.yaml'));
  assert.equal(s.sites.count, 10);
  assert.equal(s.data.partition.scheme, 'dirichlet');
  assert.equal(s.data.partition.alpha, 0.1);
  assert.equal(s.strategy.name, 'dsfl');
  // Competence-weighted, sharp replies (issue #7: within 3 points of FedAvg).
  assert.ok(s.sites.competence !== undefined);
  assert.ok(s.strategy.replyTemperature < 1);
});

test('the FedMD scenario has heterogeneous models on Fashion-MNIST', () => {
  const s = loadScenario(join(DIR, 'fedmd-fashion.yaml'));
  assert.match(s.data.dataset, /^fashion-mnist/);
  assert.equal(s.strategy.name, 'fedmd');
  const models = new Set(Array.from({ length: s.sites.count }, (_, i) => JSON.stringify(modelOfSite(s, i + 1))));
  assert.ok(models.size >= 2);
});

test('defaults are filled in', () => {
  const s = validateScenario(minimal());
  assert.equal(s.kind, 'federated');
  assert.equal(s.seed, 1);
  assert.equal(s.data.partition.scheme, 'iid');
  assert.deepEqual(s.sites.models, ['mlp']);
  assert.equal(s.privacy.unit, 'site');
  assert.equal(s.privacy.teachersPerSite, 1);
  assert.equal(s.privacy.delta, 1e-5);
  assert.equal(s.faults.dropout, 0);
  assert.equal(s.privacy.testNoiseSeed, undefined);
  assert.deepEqual(s.baselines.centralized, { epochs: s.sites.local.epochs + s.rounds });
  assert.deepEqual(s.baselines.fedavg, { epochsPerRound: 1 });
});

test('example-level unit gives k teachers per site', () => {
  const s = validateScenario({ ...minimal(), privacy: { unit: 'example', teachers_per_site: 4 } });
  assert.equal(s.privacy.teachersPerSite, 4);
  assert.throws(() => validateScenario({ ...minimal(), privacy: { teachers_per_site: 4 } }), /privacy.teachers_per_site/);
});

test('mistakes are reported with the field and a stable code', () => {
  const bad = (patch: Record<string, unknown>, field: RegExp) => assert.throws(() => validateScenario({ ...minimal(), ...patch }), (e: Error & { code?: string }) => {
    assert.match(e.message, field);
    assert.equal(e.code, 'E_SCENARIO_INVALID');
    return true;
  });
  bad({ roundz: 3 }, /scenario.roundz: is not a known setting/);
  bad({ faults: { dropout: 1.5 } }, /faults.dropout: must be ≤ 1/);
  bad({ sites: { count: 2, model: 'resnet' } }, /sites.model: unknown model "resnet"/);
  bad({ strategy: { name: 'fedprox' } }, /strategy.name: must be one of dsfl, fedmd, pate/);
  bad({ faults: { site_crashes: [{ site: 3, round: 0 }] } }, /faults.site_crashes\[0\].site: must be ≤ 2/);
  bad({ rounds: 0 }, /scenario.rounds: must be ≥ 1/);
  bad({ quorum: 3 }, /scenario.quorum: must be ≤ 2/);
  bad({ name: 'my run/1' }, /scenario.name: is also the run id/);
  bad({ data: undefined }, /data: is required: a mapping with dataset, public_set and eval_set/);
  bad({ strategy: undefined }, /strategy: is required: a mapping with at least name/);
});

test('sites.competence: off by default, true gives the defaults, fields are checked, site-level unit only', () => {
  assert.equal(validateScenario(minimal()).sites.competence, undefined);
  const on = validateScenario({ ...minimal(), sites: { count: 2, competence: true } });
  assert.deepEqual(on.sites.competence, { epochs: 2, fullWeightRatio: 0.5, hidden: 128, maxPublicSamples: 10_000 });
  const tuned = validateScenario({ ...minimal(), sites: { count: 2, competence: { epochs: 3, full_weight_ratio: 1 } } });
  assert.equal(tuned.sites.competence!.epochs, 3);
  assert.equal(tuned.sites.competence!.fullWeightRatio, 1);
  assert.throws(() => validateScenario({ ...minimal(), sites: { count: 2, competence: { ratio: 1 } } }), /sites.competence.ratio: is not a known setting/);
  assert.throws(() => validateScenario({ ...minimal(), sites: { count: 2, competence: { full_weight_ratio: 0 } } }), /sites.competence.full_weight_ratio: must be > 0/);
  assert.throws(() => validateScenario({ ...minimal(), sites: { count: 2, competence: true }, privacy: { unit: 'example', teachers_per_site: 3 } }),
    /sites.competence: competence weighting needs privacy.unit: site/);
});

test('a pate-reproduction scenario is passed through with its raw fields', () => {
  const s = validateScenario({ name: 'pate', kind: 'pate-reproduction', teachers: 250, anything: { goes: true } });
  assert.equal(s.kind, 'pate-reproduction');
  assert.equal(s.raw.teachers, 250);
});

test('named site models resolve to valid specs for the data shape', () => {
  assert.equal(resolveSimModel('mlp', [1, 28, 28], 10), 'mlp');
  const tiny = resolveSimModel('mlp-tiny', [1, 28, 28], 10);
  assert.ok(typeof tiny !== 'string' && tiny.layers.length === 4);
  assert.throws(() => resolveSimModel({ layers: [{ type: 'dense', units: 5 }] }, [1, 28, 28], 10), /flatten|shape|dense/);
});

test('a partition key the scheme does not use is refused, naming the key, the scheme and what each takes', () => {
  const refused = (partition: Record<string, unknown>, message: RegExp) => assert.throws(
    () => validateScenario({ ...minimal(), data: { ...minimal().data, partition } }),
    (e: Error & { code?: string; exitCode?: number }) => {
      assert.match(e.message, message);
      assert.equal(e.code, 'E_SCENARIO_INVALID');
      assert.equal(e.exitCode, 2);
      return true;
    });
  refused({ scheme: 'iid', alpha: 1.0 }, /^data\.partition\.alpha: is not used by scheme iid \(iid takes no parameters; dirichlet takes alpha\): remove it, or set scheme: dirichlet$/);
  refused({ alpha: 1.0 }, /^data\.partition\.alpha: is not used by scheme iid/); // iid is the default scheme
  refused({ scheme: 'dirichlet', shards: 3 }, /^data\.partition\.shards: is not used by scheme dirichlet \(dirichlet takes alpha; shards takes shards\)/);
  refused({ scheme: 'shards', sigma: 2 }, /^data\.partition\.sigma: is not used by scheme shards \(shards takes shards; quantity takes sigma\)/);
  refused({ scheme: 'quantity', alpha: 0.5 }, /^data\.partition\.alpha: is not used by scheme quantity \(quantity takes sigma; dirichlet takes alpha\)/);
  refused({ scheme: 'iid', shards: 2 }, /^data\.partition\.shards: is not used by scheme iid/);
});

test('each partition scheme accepts its own parameters and seed; an empty value reads as absent', () => {
  const partition = (p: Record<string, unknown>) => validateScenario({ ...minimal(), data: { ...minimal().data, partition: p } }).data.partition;
  assert.deepEqual(partition({ scheme: 'iid', seed: 4 }), { scheme: 'iid', seed: 4 });
  assert.deepEqual(partition({ scheme: 'dirichlet', alpha: 0.1, seed: 2 }), { scheme: 'dirichlet', alpha: 0.1, seed: 2 });
  assert.deepEqual(partition({ scheme: 'shards', shards: 3 }), { scheme: 'shards', shards: 3, seed: 1 });
  assert.deepEqual(partition({ scheme: 'quantity', sigma: 2 }), { scheme: 'quantity', sigma: 2, seed: 1 });
  // sigma 0 (equal sizes) as `fedistill data partition` and partitionLabels take it; a negative one is refused
  assert.deepEqual(partition({ scheme: 'quantity', sigma: 0 }), { scheme: 'quantity', sigma: 0, seed: 1 });
  assert.throws(() => partition({ scheme: 'quantity', sigma: -1 }), /data\.partition\.sigma: must be ≥ 0/);
  assert.deepEqual(partition({ scheme: 'iid', alpha: null }), { scheme: 'iid', seed: 1 });
});
