// The privacy event a site attaches to its reply: validated, and refused past MAX_SITE_EVENT_BYTES (it is copied into the signed release entry).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SITE_EVENT_BYTES, siteEventOf } from '../../../server/site-reply-checks.ts';
import { confidentGnmaxWorstCase } from '../../../shared/privacy/pate-accounting.ts';
import { centralReleaseSensitivity, gaussianRowsCharge } from '../../../shared/privacy/soft-labels.ts';

test('an honest site\'s event passes; one carrying thousands of vote counts, or not an event at all, is refused with a reason', () => {
  // what honest sites record: PATE's worst case per query, or a Gaussian per row (client/site-agent.ts)
  for (const event of [confidentGnmaxWorstCase(4_000_000, { sigma1: 150, sigma2: 40 }), gaussianRowsCharge(8, centralReleaseSensitivity(1, 100_000, 65_535), 4_000_000)]) {
    const got = siteEventOf(event as unknown as Record<string, unknown>, 'site-a');
    assert.deepEqual(got, { event });
  }
  const votes = Array.from({ length: 2_000 }, (_, i) => 1e300 + i * 1e285);
  const big = siteEventOf({ type: 'pate_gnmax', sigma: 1, votes }, 'site-a');
  assert.ok('problem' in big);
  assert.match(big.problem, new RegExp(`privacyEvent is \\d+ bytes of JSON; at most ${MAX_SITE_EVENT_BYTES}`));
  const bad = siteEventOf({ type: 'gaussian', noise_multiplier: -1 }, 'site-a');
  assert.ok('problem' in bad);
  assert.match(bad.problem, /site-a\.privacyEvent\.noise_multiplier: must be > 0/);
});
