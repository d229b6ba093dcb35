// The --json summaries of `fedistill client` and `fedistill start` carry what their text summaries point to (ledger, aggregator key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { siteSummaryJson } from '../../../cli/commands/client.ts';
import { startSummary } from '../../../cli/commands/start.ts';
import { runSummaryJson } from '../../../cli/commands/server.ts';

const finished = {
  runId: 'r1', roundsDigested: 2, baselineAccuracy: 0.8, finalAccuracy: 0.9, ledgerEpsilon: 3.5, ledgerDelta: 1e-5,
  bytesSent: 100, bytesReceived: 200, site: 'site-a', studentOut: '/runs/site-a-student.onnx',
};

test('client --json names the site ledger beside the run result, as the text summary does', () => {
  const j = JSON.parse(siteSummaryJson(finished, '/runs/site-a.ledger.jsonl'));
  assert.equal(j.ledger, '/runs/site-a.ledger.jsonl');
  assert.equal(j.site, 'site-a');
  assert.equal(j.ledger_epsilon, 3.5);
  assert.equal(j.student_out, '/runs/site-a-student.onnx');
  assert.equal(j.rounds_digested, 2);
  assert.equal(j.baseline_accuracy, 0.8);
  assert.equal(j.ok, true);
  // a site stopped by a signal (exit 1) says so as every --json failure does, and names its ledger
  const stopped = JSON.parse(siteSummaryJson({ site: 'site-a', stopped: true, ledger: '/runs/site-a.ledger.jsonl' }, '/runs/site-a.ledger.jsonl'));
  assert.deepEqual({ ...stopped, error: { code: stopped.error.code } }, { ok: false, error: { code: 'E_INTERRUPTED' }, site: 'site-a', stopped: true, ledger: '/runs/site-a.ledger.jsonl' });
  assert.match(stopped.error.message, /restart it with the same config to rejoin/);
});

test('server --json: a run stopped by a signal (exit 1) has ok false and E_INTERRUPTED; a finished or budget-exhausted one ok true', () => {
  const base = { runId: 'r1', epsilon: 1, delta: 1e-5, rounds: [], bytes: {}, database: '/runs/fedistill.db' };
  const stopped = runSummaryJson({ ...base, status: 'stopped' });
  assert.deepEqual([stopped.ok, stopped.error?.code, stopped.status], [false, 'E_INTERRUPTED', 'stopped']);
  for (const status of ['complete', 'budget_exhausted'] as const) {
    const j = runSummaryJson({ ...base, status });
    assert.deepEqual([j.ok, 'error' in j], [true, false], status);
  }
});

test('start --json carries the aggregator public key and each site ledger, so audit verify/compare can be scripted', () => {
  const res = {
    aggregator: { summary: { run_id: 'start', status: 'complete', rounds: [{}, {}], epsilon: 12.5, delta: 1e-5, bytes: { 'site-a': { sent: 70, received: 60 } } } },
    sites: [{ summary: { ...JSON.parse(siteSummaryJson(finished, '/runs/site-a.ledger.jsonl')) } }],
    database: '/runs/fedistill.db',
    dir: '/runs',
  };
  const s = startSummary(res, 'AGGREGATOR-KEY=', 9.5);
  assert.equal(s.aggregator_public_key, 'AGGREGATOR-KEY=');
  assert.equal(s.rounds, 2);
  assert.equal(s.sites.length, 1);
  const site = s.sites[0]!;
  assert.equal(site.ledger, '/runs/site-a.ledger.jsonl');
  // bytes are counted on the aggregator's side: what it received is what the site sent
  assert.equal(site.bytes_sent, 60);
  assert.equal(site.bytes_received, 70);
  assert.equal(site.own_epsilon, 3.5);
  assert.equal(site.before, 0.8);
  assert.equal(site.student, '/runs/site-a-student.onnx');
  assert.equal(s.run, 'start');
  assert.equal(s.privacy_unit, 'example (10 teachers per site on disjoint shards)');
});
