// Request ids per attempt, pinned teacher counts and vote bounds, and run ids that the wire accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryRequestId, replyProblem } from '../../../server/site-reply-checks.ts';
import { validateRunConfig } from '../../../server/run-config.ts';
import { ID_PATTERN } from '../../../protocols/validators.ts';

test('query request ids differ per attempt, repeat per (run, round, attempt, site), and are always valid ids', () => {
  assert.equal(queryRequestId('run-1', 3, 0, 'site-a'), 'run-1.r3.site-a');
  assert.notEqual(queryRequestId('run-1', 3, 1, 'site-a'), queryRequestId('run-1', 3, 2, 'site-a'));
  assert.equal(queryRequestId('run-1', 3, 1, 'site-a'), queryRequestId('run-1', 3, 1, 'site-a'));
  const long = 'x'.repeat(120);
  const hashed = queryRequestId(long, 12, 4, 's'.repeat(64));
  assert.ok(ID_PATTERN.test(hashed), hashed);
  assert.notEqual(hashed, queryRequestId(`${long}y`, 12, 4, 's'.repeat(64)));
});

test('a reply\'s teacher count must be the run\'s pinned count, and no row may hold more votes than that', () => {
  assert.equal(replyProblem(Int32Array.of(1, 0, 0, 0, 2, 0), 2, 3, 2, 2), undefined);
  assert.match(replyProblem(Int32Array.of(1, 0, 0, 0, 2, 1), 2, 3, 2, 2)!, /row 1 holds 3 votes/);
  assert.match(replyProblem(Uint16Array.of(65535, 65535, 0), 1, 3, 1, 1)!, /row 0/);
  // a site may not choose its weight: any other declared count is refused, however plausible
  assert.match(replyProblem(Int32Array.of(65535, 0, 0), 1, 3, 65535, 1)!, /stats\.teachers is 65535, but this run pins privacy\.teachers_per_site = 1/);
  assert.match(replyProblem(undefined, 1, 3, 2, 3)!, /stats\.teachers is 2/);
  // absent means 1: accepted where the run pins 1, refused where it pins more
  assert.equal(replyProblem(Int32Array.of(1, 0, 0), 1, 3, undefined, 1), undefined);
  assert.match(replyProblem(Int32Array.of(1, 0, 0), 1, 3, undefined, 5)!, /stats\.teachers is 1, but this run pins privacy\.teachers_per_site = 5/);
  for (const t of [0, 1.5, -1, 1e9, Number.NaN]) assert.match(replyProblem(undefined, 1, 3, t, 1)!, /stats\.teachers/);
  assert.equal(replyProblem(undefined, 1, 3, 7, 7), undefined);
});

test('privacy.teachers_per_site and max_round_attempts: defaults 1 and 5, bounded integers', () => {
  const base = { run_id: 'r', identity: 'k', allowlist: 'a', public_set: 'p', strategy: { name: 'pate' }, privacy: { epsilon: 1 }, rounds: 1 };
  const c = validateRunConfig(base);
  assert.equal(c.privacy.teachersPerSite, 1);
  assert.equal(c.maxRoundAttempts, 5);
  const k = validateRunConfig({ ...base, privacy: { epsilon: 1, teachers_per_site: 250 }, max_round_attempts: 2 });
  assert.deepEqual([k.privacy.teachersPerSite, k.maxRoundAttempts], [250, 2]);
  assert.throws(() => validateRunConfig({ ...base, privacy: { epsilon: 1, teachers_per_site: 0 } }), /privacy\.teachers_per_site/);
  assert.throws(() => validateRunConfig({ ...base, privacy: { epsilon: 1, teachers_per_site: 65536 } }), /privacy\.teachers_per_site/);
  assert.throws(() => validateRunConfig({ ...base, max_round_attempts: 0 }), /max_round_attempts/);
  assert.throws(() => validateRunConfig({ ...base, max_round_attempts: 1.5 }), /max_round_attempts/);
});

test('a run id the wire would refuse is a config error, not a run whose sites can never join', () => {
  const base = { identity: 'k', allowlist: 'a', public_set: 'p', strategy: { name: 'pate' }, privacy: { epsilon: 1 }, rounds: 1 };
  assert.equal(validateRunConfig({ ...base, run_id: 'study-2024.a' }).runId, 'study-2024.a');
  assert.throws(() => validateRunConfig({ ...base, run_id: 'my study' }), /run_id/);
  assert.throws(() => validateRunConfig({ ...base, run_id: 'r'.repeat(200) }), /run_id/);
});
