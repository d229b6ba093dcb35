// Request ids per attempt, vote bounds per declared teachers, and run ids that the wire accepts.
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

test('a reply may not hold more votes per row than the teachers it declares, nor declare an impossible teacher count', () => {
  assert.equal(replyProblem(Int32Array.of(1, 0, 0, 0, 2, 0), 2, 3, 2), undefined);
  assert.match(replyProblem(Int32Array.of(1, 0, 0, 0, 2, 1), 2, 3, 2)!, /row 1 holds 3 votes/);
  assert.match(replyProblem(Uint16Array.of(65535, 65535, 0), 1, 3, 1)!, /row 0/);
  for (const t of [0, 1.5, -1, 1e9, Number.NaN]) assert.match(replyProblem(undefined, 1, 3, t)!, /stats\.teachers/);
  assert.equal(replyProblem(undefined, 1, 3, 7), undefined);
});

test('a run id the wire would refuse is a config error, not a run whose sites can never join', () => {
  const base = { identity: 'k', allowlist: 'a', public_set: 'p', strategy: { name: 'pate' }, privacy: { epsilon: 1 }, rounds: 1 };
  assert.equal(validateRunConfig({ ...base, run_id: 'study-2024.a' }).runId, 'study-2024.a');
  assert.throws(() => validateRunConfig({ ...base, run_id: 'my study' }), /run_id/);
  assert.throws(() => validateRunConfig({ ...base, run_id: 'r'.repeat(200) }), /run_id/);
});
