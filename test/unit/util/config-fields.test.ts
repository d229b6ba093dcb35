// Config field readers: every error names the full field path, shows the broken bound, suggests near misses, and carries the format's code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_FILE_FIELDS, SCENARIO_FIELDS, configFields, shown } from '../../../shared/util/config-fields.ts';
import { COMPETENCE_DEFAULTS, competenceSettingsAt, validateCompetence } from '../../../client/domain-competence.ts';
import { validateSiteConfig } from '../../../client/site-config.ts';
import { validateScenario } from '../../../simulations/scenario.ts';
import { FedistillError } from '../../../shared/util/errors.ts';

const F = configFields({ unknownKey: 'E_TEST_UNKNOWN', invalid: 'E_TEST_INVALID' });

function failure(run: () => unknown): FedistillError {
  try { run(); } catch (e) {
    assert.ok(e instanceof FedistillError, `not a FedistillError: ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return e;
  }
  assert.fail('accepted');
}

test('an unknown key is refused with its full path, a did-you-mean, the known keys and the unknown-key code', () => {
  const e = failure(() => F.section({ local: { epoch: 3 } }, 'local', 'sites.local', ['epochs', 'batch']));
  assert.equal(e.code, 'E_TEST_UNKNOWN');
  assert.equal(e.message, 'sites.local.epoch: is not a known setting (did you mean epochs?) (known: epochs, batch)');
  // nothing close: no guess
  assert.equal(failure(() => F.onlyKeys({ zzzzzz: 1 }, ['epochs', 'batch'], 'x')).message, 'x.zzzzzz: is not a known setting (known: epochs, batch)');
});

test('an out-of-range number names the field, the bound it breaks and the value', () => {
  const cases: [Record<string, unknown>, Parameters<typeof F.numberAt>[4], string][] = [
    [{ n: 0 }, { min: 1 }, 'a.b.n: must be ≥ 1, got 0'],
    [{ n: 0 }, { min: 0, exclusiveMin: true }, 'a.b.n: must be > 0, got 0'],
    [{ n: 70_000 }, { min: 0, max: 65_535 }, 'a.b.n: must be ≤ 65535, got 70000'],
    [{ n: 1.5 }, { int: true }, 'a.b.n: must be an integer, got 1.5'],
  ];
  for (const [o, rule, message] of cases) {
    const e = failure(() => F.numberAt(o, 'n', 'a.b', undefined, rule));
    assert.equal(e.message, message);
    assert.equal(e.code, 'E_TEST_INVALID');
  }
  assert.equal(F.numberAt({ n: 65_535 }, 'n', 'a', undefined, { max: 65_535 }), 65_535);
  assert.equal(F.numberAt({}, 'n', 'a', 7, { min: 1 }), 7, 'the default when absent');
  assert.equal(F.numberAt({ n: null }, 'n', 'a', 7), 7, 'null (empty in YAML) reads as absent');
  assert.equal(failure(() => F.numberAt({}, 'n', 'a', undefined)).message, 'a.n: is required');
});

test('a wrong type says what was expected and shows what was given', () => {
  assert.equal(failure(() => F.numberAt({ n: '3' }, 'n', 'run', undefined)).message, 'run.n: must be a number, got "3"');
  assert.equal(failure(() => F.numberAt({ n: Number.NaN }, 'n', 'run', undefined)).message, 'run.n: must be a number, got NaN');
  assert.equal(failure(() => F.stringAt({ s: 5 }, 's', 'run')).message, 'run.s: must be a string, got 5');
  assert.equal(failure(() => F.stringAt({ s: '' }, 's', 'run')).message, 'run.s: must not be empty');
  assert.equal(failure(() => F.booleanAt({ b: 'yes' }, 'b', 'base', true)).message, 'base.b: must be true or false, got "yes"');
  assert.equal(failure(() => F.listAt({ l: 3 }, 'l', 'faults')).message, 'faults.l: must be a list, got 3');
  assert.equal(failure(() => F.mapping(5, 'local')).message, 'local: must be a mapping, got 5');
  assert.equal(failure(() => F.root(null, 'site')).message, 'site: must be a mapping of settings, got null');
  // a long value is cut short, so that the message stays one readable line
  assert.ok(failure(() => F.mapping('x'.repeat(500), 'local')).message.length < 100);
  assert.equal(shown([1, 2]), '[1,2]');
});

test('an enum value outside its choices lists them and suggests the near miss', () => {
  const e = failure(() => F.stringAt({ optimizer: 'sgdd' }, 'optimizer', 'sites.local', 'adam', ['sgd', 'adam', 'adamw'] as const));
  assert.equal(e.message, 'sites.local.optimizer: must be one of sgd, adam, adamw, got "sgdd" (did you mean sgd?)');
  assert.equal(e.code, 'E_TEST_INVALID');
  assert.equal(F.stringAt({}, 'optimizer', 'sites.local', 'adam', ['sgd', 'adam'] as const), 'adam');
});

test('sections: optional ones read as {} when absent or empty, required ones say "is required"', () => {
  assert.deepEqual(F.section({}, 'listen', 'listen', ['host']), {});
  assert.deepEqual(F.section({ listen: null }, 'listen', 'listen', ['host']), {});
  assert.equal(failure(() => F.section({}, 'strategy', 'strategy', ['name'], false)).message, 'strategy: is required');
  assert.match(failure(() => F.section({ strategy: null }, 'strategy', 'strategy', ['name'], false)).message, /^strategy: is empty/);
  assert.equal(F.optionalNumberAt({ e: null }, 'e', 'policy'), undefined);
  assert.equal(F.optionalStringAt({}, 's', 'site'), undefined);
  assert.deepEqual(F.listAt({}, 'l', 'faults'), []);
});

test('each file format keeps its codes: run/site files split typos from bad values, scenarios use one code', () => {
  assert.equal(failure(() => CONFIG_FILE_FIELDS.onlyKeys({ x: 1 }, ['y'], 'run')).code, 'E_CONFIG_INVALID');
  assert.equal(failure(() => CONFIG_FILE_FIELDS.numberAt({ x: -1 }, 'x', 'run', undefined, { min: 0 })).code, 'E_INVALID_PARAMETER');
  assert.equal(failure(() => SCENARIO_FIELDS.onlyKeys({ x: 1 }, ['y'], 'scenario')).code, 'E_SCENARIO_INVALID');
  assert.equal(failure(() => SCENARIO_FIELDS.numberAt({ x: -1 }, 'x', 'scenario', undefined, { min: 0 })).code, 'E_SCENARIO_INVALID');
});

test('competence settings: one parser for site files, scenarios and settings built in code', () => {
  assert.equal(competenceSettingsAt(undefined, 'c', F), undefined);
  assert.equal(competenceSettingsAt(false, 'c', F), undefined);
  assert.equal(competenceSettingsAt(null, 'c', F), undefined);
  assert.deepEqual(competenceSettingsAt(true, 'c', F), COMPETENCE_DEFAULTS);
  assert.deepEqual(competenceSettingsAt({ hidden: 64 }, 'c', F), { ...COMPETENCE_DEFAULTS, hidden: 64 });
  assert.match(failure(() => competenceSettingsAt('yes', 'c', F)).message, /^c: must be true, false or a mapping, got "yes"/);
  // the same mistake reads the same in both file formats, under each one's path and code
  const site = failure(() => validateSiteConfig({ name: 's', identity: 'k', server: { url: 'ws://x', public_key: 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=' }, data: { dataset: 'mnist:train' }, public_set: 'mnist:test', policy: { competence: { full_weight_ratio: 0 } } }));
  assert.equal(site.message, 'policy.competence.full_weight_ratio: must be > 0, got 0');
  assert.equal(site.code, 'E_INVALID_PARAMETER');
  const scenario = failure(() => validateScenario({ name: 't', rounds: 1, data: { dataset: 'a', public_set: 'b', eval_set: 'c' }, sites: { count: 1, competence: { full_weight_ratio: 0 } }, strategy: { name: 'dsfl' } }));
  assert.equal(scenario.message, 'sites.competence.full_weight_ratio: must be > 0, got 0');
  assert.equal(scenario.code, 'E_SCENARIO_INVALID');
  assert.equal(failure(() => validateCompetence({ ...COMPETENCE_DEFAULTS, epochs: 0 })).message, 'competence.epochs: must be ≥ 1, got 0');
  assert.equal(failure(() => validateCompetence({ ...COMPETENCE_DEFAULTS, hidden: Number.NaN })).message, 'competence.hidden: must be a number, got NaN');
  validateCompetence(COMPETENCE_DEFAULTS);
});
