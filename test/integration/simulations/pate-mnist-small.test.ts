// A small, fast PATE-MNIST run: teachers → Confident-GNMax → accounting → student, with the votes cache and scenario checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { join } from 'node:path';
import { runPateMnist, selectQueries } from '../../../simulations/pate-mnist/index.ts';
import { parsePateMnistScenario } from '../../../simulations/pate-mnist/config.ts';
import { confidentPseudoLabels } from '../../../simulations/pate-mnist/student.ts';
import { randomAffine, randomShifts } from '../../../simulations/pate-mnist/augment.ts';
import { epsilonFromEvents, pate2018Orders } from '../../../shared/privacy/index.ts';
import { SeededRng } from '../../../shared/util/prng.ts';
import { FedistillError } from '../../../shared/util/errors.ts';
import { pateSummary } from '../../../cli/commands/simulate.ts';
import { keysWithCapitals } from '../../unit/cli/json-keys.ts';

/** 20 teachers on 2,000 MNIST train samples (100 each), 60 queries, a small student: seconds. */
function smallScenario(student: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'pate-mnist-small', kind: 'pate-reproduction', seed: 3,
    data: { teacher_set: 'mnist:train[0:2000]', public_set: 'mnist:test[0:1000]', eval_set: 'mnist:test[9000:9500]' },
    sites: { count: 20, model: 'mlp-small', workers: 1, local: { epochs: 15, batch: 25, lr: 0.003, augment: true } },
    strategy: { queries: 60, threshold: 12, sigma1: 4, sigma2: 3, student },
    privacy: { delta: 1e-5 },
  };
}

test('small PATE-MNIST run: answers, ε replayed from the charged events, student beats chance, votes cached', async () => {
  const out = mkdtempSync(join(tmpdir(), 'pate-mnist-small-'));
  try {
    const lines: string[] = [];
    const r = await runPateMnist(smallScenario({ model: 'cnn-small', epochs: 25, generations: [0.6], generation_epochs: 2, threads: 1 }),
      { out, log: (l) => lines.push(l), json: true });
    assert.equal(r.teachers.count, 20);
    assert.equal(r.teachers.shard_size, 100);
    assert.ok(r.teachers.mean_accuracy > 0.6, `teachers should learn something, mean ${r.teachers.mean_accuracy}`);
    assert.equal(r.aggregation.queries, 60);
    assert.ok(r.aggregation.answered > 0 && r.aggregation.answered <= 60, `answered ${r.aggregation.answered}`);
    assert.equal(r.student.labeled, r.aggregation.answered);
    assert.equal(r.privacy.realized.answered, r.aggregation.answered);
    for (const e of [r.privacy.expected.epsilon, r.privacy.realized.epsilon, r.privacy.expected.epsilon_data_independent]) {
      assert.ok(Number.isFinite(e) && e > 0, `ε ${e}`);
    }
    assert.ok(r.privacy.expected.epsilon <= r.privacy.expected.epsilon_data_independent + 1e-9);
    // Publishable figures depend only on public quantities: the answered count, not the votes.
    assert.match(r.privacy.expected.note, /not a guarantee/);
    assert.ok(r.privacy.realized.epsilon_data_independent <= r.privacy.expected.epsilon_data_independent);
    assert.equal(r.privacy.smooth_sensitivity.order, r.privacy.realized.order_data_independent);
    assert.equal(r.privacy.smooth_sensitivity.delta_upper, 2e-5);
    assert.ok(Number.isFinite(r.privacy.smooth_sensitivity.epsilon_upper));
    // An auditor replays the written events with the generic accountant and gets the realized ε.
    const file = JSON.parse(readFileSync(join(out, 'privacy-events.json'), 'utf8')) as { events: never[] };
    assert.equal(file.events.length, 60 + r.aggregation.answered);
    const replay = epsilonFromEvents(file.events, 1e-5, { orders: pate2018Orders(), conversion: 'classic' });
    assert.ok(Math.abs(replay.epsilon - r.privacy.realized.epsilon) < 1e-9, `replay ${replay.epsilon} vs ${r.privacy.realized.epsilon}`);
    assert.equal(r.privacy.replayed.epsilon, replay.epsilon);
    assert.ok(r.student.accuracy > 0.3, `student ${r.student.accuracy} should beat chance (0.1) by a margin`);
    assert.equal(r.student.generations.length, 2);
    assert.ok(lines.some((l) => l.startsWith('teachers: 20/20 trained')));
    const written = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    assert.equal(written.aggregation.answered, r.aggregation.answered);
    // result.json is what `simulate --json` prints for this kind: snake_case keys, as every fedistill output
    assert.deepEqual(keysWithCapitals(written), []);
    // What `fedistill simulate` prints without --json: the figures in a few readable lines.
    const summary = pateSummary(r);
    assert.match(summary, new RegExp(`${r.aggregation.answered} of 60 queries answered`));
    assert.match(summary, new RegExp(`${r.privacy.realized.epsilon.toFixed(3)} realized \\(replay ${r.privacy.replayed.epsilon.toFixed(3)}\\)`));
    assert.match(summary, new RegExp(`publishable ε = ${r.privacy.realized.epsilon_data_independent.toFixed(3)} \\(data-independent\\)`));
    assert.match(summary, /expected \(paper-comparable expectation, not a guarantee\)/);
    assert.ok(!summary.includes('{'), 'a summary, not JSON');

    // Same teachers again: the votes come from the cache, so teacher figures are identical.
    const again = await runPateMnist(smallScenario({ model: 'mlp-small', epochs: 1, generations: [], threads: 1 }), { out, log: () => {} });
    assert.equal(again.teachers.from_cache, true);
    assert.deepEqual(again.teachers.mean_accuracy, r.teachers.mean_accuracy);
    assert.equal(again.student.generations.length, 1);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('scenario validation names the field and uses E_SCENARIO_INVALID', () => {
  const bad = (patch: Record<string, unknown>, field: string): void => {
    assert.throws(() => parsePateMnistScenario({ ...smallScenario({}), ...patch }),
      (e: unknown) => e instanceof FedistillError && e.code === 'E_SCENARIO_INVALID' && e.message.includes(field));
  };
  bad({ kind: 'federated' }, 'scenario.kind');
  bad({ rounds: 3 }, 'scenario.rounds');
  bad({ strategy: { sigma1: -1 } }, 'strategy.sigma1');
  bad({ sites: { model: 'resnet' } }, 'sites.model');
  bad({ strategy: { student: { generations: [0, 2] } } }, 'strategy.student.generations');
  const full = parsePateMnistScenario({ kind: 'pate-reproduction' });
  assert.equal(full.teachers.count, 250);
  // The reproduction's teachers warp their shard anew every epoch (docs/pate-mnist.md: 89% → 94% teachers).
  assert.deepEqual(full.teachers.local, { epochs: 40, batch: 32, lr: 1e-3, optimizer: 'adam', augment: true });
  assert.equal(parsePateMnistScenario({ kind: 'pate-reproduction', sites: { local: { augment: false } } }).teachers.local.augment, undefined);
  // A bare scenario gets the shipped reproduction's student (simulations/scenarios/pate-mnist.yaml).
  const { threads: _t, ...student } = full.student;
  const { threads: _s, ...shipped } = parsePateMnistScenario(parseYaml(readFileSync('simulations/scenarios/pate-mnist.yaml', 'utf8'))).student;
  assert.deepEqual(student, shipped);
  assert.deepEqual(full.aggregation, { queries: 640, querySelection: 'first', threshold: 200, sigma1: 150, sigma2: 40 });
  assert.deepEqual(full.privacy, { delta: 1e-5, orders: 'pate2018', conversion: 'classic' });
  assert.deepEqual(selectQueries(9000, 3, 'first', 1), [0, 1, 2]);
  assert.deepEqual(selectQueries(9000, 5, 'seeded', 1), selectQueries(9000, 5, 'seeded', 1));
});

test('pseudo-labels keep the most confident share of each predicted class; augmentations keep the identity', () => {
  // 4 samples, 2 classes: rows 0,1 predicted 0 (p .9, .6), rows 2,3 predicted 1 (p .7, .95).
  const probs = Float32Array.from([0.9, 0.1, 0.6, 0.4, 0.3, 0.7, 0.05, 0.95]);
  assert.deepEqual(confidentPseudoLabels(probs, 2, 0.5), { rows: [0, 3], labels: [0, 1] });
  assert.deepEqual(confidentPseudoLabels(probs, 2, 1), { rows: [0, 1, 3, 2], labels: [0, 0, 1, 1] });
  const img = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => (i % 7) / 7);
  assert.deepEqual(randomShifts(img, 28, 0, new SeededRng(1)), img);
  const same = randomAffine(img, 28, { maxShift: 0, maxRotationDeg: 0, maxScale: 0 }, new SeededRng(1));
  for (let i = 0; i < img.length; i++) assert.ok(Math.abs(same[i]! - img[i]!) < 1e-6);
  const shifted = randomShifts(img, 28, 2, new SeededRng(1));
  assert.notDeepEqual(shifted, img);
  assert.equal(shifted.length, img.length);
});
