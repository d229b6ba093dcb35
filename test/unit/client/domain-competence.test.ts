// Competence weighting: weights from discriminator odds, and on an extreme label skew the weighted consensus finds the class the plain average cannot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subset } from '../../../shared/data/image-dataset.ts';
import { SiteAgent, type SiteSettings } from '../../../client/site-agent.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { validateSiteConfig } from '../../../client/site-config.ts';
import { COMPETENCE_DEFAULTS, competenceWeights } from '../../../client/domain-competence.ts';
import { SoftLabelAverage } from '../../../server/strategies/soft-label-average.ts';
import type { SiteReply } from '../../../server/strategies/strategy.ts';
import { separableDataset } from './separable-csv.ts';

/**
 * The charge of a soft-label reply: σ = z·clip over √2·clip (replace-one) + 2⁻²⁰·√cols (the release
 * grid) + transport·√cols (float32 rounding before central noise: 2^(⌊log2(teachers·clip)⌋ − 23)).
 */
const softCharge = (z: number, clip: number, cols: number, rows: number, transport = 0) =>
  ({ type: 'gaussian' as const, noise_multiplier: (z * clip) / (Math.SQRT2 * clip + 2 ** -20 * Math.sqrt(cols) + transport * Math.sqrt(cols)), count: rows });


const settings = (name: string, competence: boolean, teachers = 1): SiteSettings => ({
  name, model: 'mlp', teachers, seed: name.length * 17 + name.charCodeAt(name.length - 1), device: 'cpu', threads: 1,
  local: { epochs: 3, batchSize: 16, lr: 3e-3, optimizer: 'adam' },
  digest: { epochs: 1, revisitEpochs: 0, temperature: 1, privateMix: 30 },
  policy: { clip: 1, localNoiseMultiplier: 0, ...(competence ? { competence: { ...COMPETENCE_DEFAULTS, epochs: 20 } } : {}) },
});

test('weights: the discriminator odds over full_weight_ratio, capped at 1', () => {
  // P = 0.5 → odds 1; P = 0.2 → odds 0.25; P = 0 → 0; P = 1 → full weight.
  assert.deepEqual([...competenceWeights([0.5, 0.2, 0, 1], 0.5)], [1, 0.5, 0, 1]);
  assert.deepEqual([...competenceWeights([0.5, 0.2], 2)], [0.5, 0.125]);
});

test('one class per site: the competence-weighted consensus is right where the plain average is not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-competence-'));
  try {
    const pool = separableDataset(dir, 'pool.csv', 150, 2);
    const publicSet = separableDataset(dir, 'pub.csv', 60, 3);
    const onlyClass = (c: number) => subset(pool, Array.from(pool.labels.keys()).filter((i) => pool.labels[i] === c));
    const indices = Uint32Array.from({ length: publicSet.length }, (_, i) => i);
    const consensusAccuracy = async (competence: boolean) => {
      const replies: SiteReply[] = [];
      // Three sites hold only class 1, one only class 0, one only class 2.
      for (const [k, c] of [0, 1, 1, 1, 2].entries()) {
        const agent = new SiteAgent(settings(`site-${k}`, competence), { privateData: onlyClass(c), publicSet }, new SiteLedger());
        await agent.prepare();
        const a = await agent.answer({ runId: 'r', round: 0, requestId: `q${k}`, indices, replyKind: 'soft_labels', params: { temperature: 1, clip: 1 } }, { noiseMultiplier: 1 });
        // Weighting happens before the clip: the release and its privacy event are unchanged.
        assert.deepEqual(a.event, softCharge(1, 1, 3, indices.length, 2 ** -23));
        for (let r = 0; r < a.rows; r++) assert.ok(Math.hypot(...a.soft!.subarray(r * 3, r * 3 + 3)) <= 1 + 1e-5);
        replies.push({ site: `site-${k}`, rows: a.rows, cols: a.cols, teachers: a.teachers, soft: a.soft! });
      }
      const dsfl = new SoftLabelAverage({ queriesPerRound: indices.length, entropyReductionTemperature: 0.1 });
      const { sum, teachers, cols } = dsfl.sum({ round: 0, indices, replyKind: 'soft_labels', params: {} }, replies);
      const soft = dsfl.combine(sum, teachers, indices.length, cols);
      let correct = 0;
      for (let r = 0; r < indices.length; r++) {
        const row = soft.subarray(r * 3, r * 3 + 3);
        if (row.indexOf(Math.max(...row)) === publicSet.labels[r]) correct++;
      }
      return correct / indices.length;
    };
    // Each one-class model says "my class" to everything: the plain average follows the majority (class 1).
    const plain = await consensusAccuracy(false);
    const weighted = await consensusAccuracy(true);
    assert.ok(plain < 0.6, `plain average ${plain}`);
    assert.ok(weighted >= 0.9, `competence-weighted ${weighted}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('competence weighting is refused for the example-level unit (k teachers per site)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-competence-'));
  try {
    const pool = separableDataset(dir, 'pool.csv', 30, 4);
    assert.throws(() => new SiteAgent(settings('site-k', true, 3), { privateData: pool, publicSet: pool }, new SiteLedger()), /policy\.competence/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('site files: policy.competence true gives the defaults, bad values name the field', () => {
  const base = { name: 's', identity: 'id.json', server: { url: 'ws://x', public_key: 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=' }, data: { dataset: 'mnist:train[0:10]' }, public_set: 'mnist:test[0:10]' };
  assert.equal(validateSiteConfig(base).settings.policy.competence, undefined);
  assert.deepEqual(validateSiteConfig({ ...base, policy: { competence: true } }).settings.policy.competence, COMPETENCE_DEFAULTS);
  assert.equal(validateSiteConfig({ ...base, policy: { competence: { full_weight_ratio: 2 } } }).settings.policy.competence!.fullWeightRatio, 2);
  assert.throws(() => validateSiteConfig({ ...base, policy: { competence: { epochs: 0 } } }), /competence\.epochs/);
  assert.throws(() => validateSiteConfig({ ...base, policy: { competence: 'yes' } }), /policy\.competence/);
});
