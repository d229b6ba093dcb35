// Noise calibration: the returned noise meets the target and is the smallest that does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calibrateNoise } from '../../../shared/privacy/calibrate.ts';
import { epsilonFromEvents } from '../../../shared/privacy/rdp-accountant.ts';

test('calibrates DP-SGD: ε(z) ≤ target and ε(z·(1 − 1e-6)) > target', () => {
  const template = [{ type: 'subsampled_gaussian', sampling_rate: 0.0025, noise_multiplier: '?', count: 6000 }];
  const c = calibrateNoise(template, 1.0, 1e-5);
  assert.ok(c.epsilon <= 1.0);
  const below = epsilonFromEvents([{ type: 'subsampled_gaussian', sampling_rate: 0.0025, noise_multiplier: c.noise * (1 - 1e-6), count: 6000 }], 1e-5);
  assert.ok(below.epsilon > 1.0, `ε just below = ${below.epsilon}`);
});

test('calibrates the Gaussian mechanism close to the analytic RDP answer', () => {
  const c = calibrateNoise([{ type: 'gaussian', noise_multiplier: '?', count: 10 }], 3, 1e-6, { orders: [2, 4, 8, 16, 32, 64] });
  assert.ok(c.epsilon <= 3 && c.epsilon > 3 * (1 - 1e-6));
});

test('templates without a placeholder or with bad fields are errors naming the field', () => {
  assert.throws(() => calibrateNoise([{ type: 'gaussian', noise_multiplier: 1 }], 1, 1e-5), /no noise field is "\?"/);
  assert.throws(() => calibrateNoise([{ type: 'subsampled_gaussian', sampling_rate: 2, noise_multiplier: '?' }], 1, 1e-5), /template\[0\]\.sampling_rate/);
  assert.throws(() => calibrateNoise([{ type: 'gaussian', noise_multiplier: '?' }], -1, 1e-5), /target-epsilon/);
});

test('refuses data-dependent PATE templates (ε is not monotone in σ there) and calibrates the vote-free ones', () => {
  assert.throws(() => calibrateNoise([{ type: 'pate_gnmax', sigma: '?', votes: [200, 40, 10] }], 1, 1e-5),
    (e: Error & { code?: string }) => e.code === 'E_INVALID_PRIVACY_EVENT' && /template\[0\]\.votes: calibration takes data-independent events only/.test(e.message));
  assert.throws(() => calibrateNoise([{ type: 'composed', events: [{ type: 'pate_threshold', sigma: '?', threshold: 200, max_vote: 230 }] }], 1, 1e-5),
    /template\[0\]\.events\[0\]\.max_vote/);
  const c = calibrateNoise([{ type: 'pate_threshold', sigma: '?', count: 100 }, { type: 'pate_gnmax', sigma: '?', count: 40 }], 2, 1e-5);
  assert.ok(c.epsilon <= 2 && c.noise > 1);
});
