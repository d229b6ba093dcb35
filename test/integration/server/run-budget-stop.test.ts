// Where a run stops for its own budget must not depend on the data. A PATE round's actual charge grows with the
// queries its noisy threshold lets through, and a refused round is charged nothing: a run that queried first and
// then found the charge too big would make its stop, and the ε its budget_refused entry records, tell how many
// queries passed. So the run stops before querying a round whose most expensive charge it cannot pay.
// Real aggregator, real sessions on loopback, the signed audit log a deployment writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportAuditLog, parseAuditExport } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { confidentGnmaxWorstCase } from '../../../shared/privacy/pate-accounting.ts';
import { epsilonFromEvents } from '../../../shared/privacy/rdp-accountant.ts';
import type { PrivacyEvent } from '../../../shared/privacy/events.ts';
import { failAuditAppend, hostileSite, restartAggregator, startHostileRun } from './hostile-site-fixture.ts';

const QUERIES = 4;
const SIGMA = 5;
/** A threshold no honest tally (one vote per row) comes near: every query is refused, so a round actually costs its threshold steps only. */
const THRESHOLD = 1000;
const thresholdSteps: PrivacyEvent = { type: 'pate_threshold', sigma: SIGMA, count: QUERIES };
const worstRound = confidentGnmaxWorstCase(QUERIES, { sigma1: SIGMA, sigma2: SIGMA });
const eps = (events: PrivacyEvent[]) => epsilonFromEvents(events, 1e-5).epsilon;
/**
 * Pays round 1 at its worst and round 2 as it actually goes (threshold steps only), but not round 2 at
 * its worst: a run that decided after querying would release round 2.
 */
const BUDGET = (eps([worstRound]) + eps([thresholdSteps, worstRound])) / 2;

function strategy(accounting: string) {
  return { name: 'pate', queries_per_round: QUERIES, threshold: THRESHOLD, sigma1: SIGMA, sigma2: SIGMA, accounting };
}

test('PATE, data-independent accounting: a round whose worst case the run cannot pay is never queried, whatever it would actually have cost', { timeout: 30_000 }, async () => {
  assert.ok(eps([thresholdSteps, thresholdSteps]) < BUDGET && BUDGET < eps([thresholdSteps, worstRound]), 'the budget sits between what round 2 costs and what it may cost');
  const h = await startHostileRun(['site-a', 'site-b'], { strategy: strategy('data-independent'), privacy: { epsilon: BUDGET, delta: 1e-5 }, rounds: 3, quorum: 2 });
  try {
    const sites = await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    const summary = await h.finish();
    assert.equal(summary.status, 'budget_exhausted', h.log.join('\n'));
    assert.deepEqual(summary.rounds.map((r) => r.round), [0]);
    for (const s of sites) assert.deepEqual(s.queries.map((q) => q.round), [0], 'round 2 was not asked');
    assert.ok(h.log.some((l) => /^round 2: the run's budget cannot pay for another round .*stopping the run before querying$/.test(l)), h.log.join('\n'));
    // the refusal records what round 2 could have cost, a figure known before any vote was cast
    const refused = h.audit.entries(h.config.runId).filter((e) => e.kind === 'budget_refused');
    assert.deepEqual(refused.map((e) => [e.round, e.site]), [[1, null]]);
    const data = refused[0]!.data as { scope: string; projected_epsilon: number };
    assert.equal(data.scope, `run:${h.config.runId}`);
    assert.ok(Math.abs(data.projected_epsilon - eps([thresholdSteps, worstRound])) < 1e-9, `${data.projected_epsilon}`);
    // round 1 charged what it actually cost: its threshold steps, no answer
    assert.deepEqual(h.db.ledgerEntries(`run:${h.config.runId}`).map((e) => e.event), [{ type: 'composed', events: Array.from({ length: QUERIES }, () => ({ type: 'pate_threshold', sigma: SIGMA })), count: 1 }]);
    const v = verifyAuditLog({ ...parseAuditExport(exportAuditLog(h.store, h.config.runId)), ledgerEvents: (scope: string) => h.db.ledgerEntries(scope).map((e) => e.event) });
    assert.equal(v.ok, true, JSON.stringify(v.problem));
  } finally {
    await h.close();
  }
});

test('PATE, data-dependent accounting: the charge decides after the round ran (the documented disclosure), so round 2 is asked', { timeout: 30_000 }, async () => {
  const h = await startHostileRun(['site-a', 'site-b'], { strategy: strategy('data-dependent'), privacy: { epsilon: BUDGET, delta: 1e-5 }, rounds: 2, quorum: 2 });
  try {
    const sites = await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    const summary = await h.finish();
    assert.equal(summary.status, 'complete', h.log.join('\n'));
    for (const s of sites) assert.deepEqual(s.queries.map((q) => q.round), [0, 1]);
  } finally {
    await h.close();
  }
});

test('a run whose budget cannot pay its next round ends budget_exhausted at once, without waiting for sites it could not use', { timeout: 30_000 }, async () => {
  const h = await startHostileRun(['site-a', 'site-b'], { strategy: strategy('data-independent'), privacy: { epsilon: eps([thresholdSteps]), delta: 1e-5 }, rounds: 1, quorum: 2, join_timeout_s: 5 });
  try {
    // no site ever joins: before, the run waited join_timeout_s and failed E_QUORUM_TIMEOUT
    const summary = await h.finish();
    assert.equal(summary.status, 'budget_exhausted', h.log.join('\n'));
    assert.deepEqual(h.audit.entries(h.config.runId).filter((e) => e.kind === 'budget_refused').map((e) => e.round), [0]);
  } finally {
    await h.close();
  }
});

test('PATE, data-dependent accounting: a round refused at charge time ends the run in the refusal\'s transaction, so a crash before the run\'s end is written never asks that round again (a second noisy draw at the budget)', { timeout: 30_000 }, async () => {
  // a threshold every tally passes: each query answered, charged about its worst case (two votes leave
  // GNMax no data-dependent saving), so the budget pays round 1 and not round 2, known only after it ran
  const budget = (eps([worstRound]) + eps([worstRound, worstRound])) / 2;
  const h = await startHostileRun(['site-a', 'site-b'], { strategy: { ...strategy('data-dependent'), threshold: 1 }, privacy: { epsilon: budget, delta: 1e-5 }, rounds: 3, quorum: 2, join_timeout_s: 2 });
  // the crash: after the refusal, before the run's end and run_finished
  const restore = failAuditAppend(h, 'run_finished');
  try {
    const sites = await Promise.all(['site-a', 'site-b'].map((n) => hostileSite(h, n)));
    await assert.rejects(h.finish(), /disk I\/O error/);
    // the last round asked was refused at charge time (data-dependent: after it ran), nothing released for it
    const asked = sites.map((s) => s.queries.map((q) => q.round));
    const refusedRound = asked[0]!.at(-1)!;
    assert.ok(refusedRound >= 1 && refusedRound < 3, JSON.stringify(asked));
    assert.equal(h.db.getRelease(h.config.runId, refusedRound), undefined);
    assert.equal(h.db.getRun(h.config.runId)?.status, 'budget_exhausted');
    restore();
    const log: string[] = [];
    const again = await restartAggregator(h, log);
    assert.equal(again.status, 'budget_exhausted', log.join('\n'));
    assert.deepEqual(sites.map((s) => s.queries.map((q) => q.round)), asked, 'nothing asked again');
    const entries = h.audit.entries(h.config.runId);
    assert.equal(entries.filter((e) => e.kind === 'budget_refused').length, 1);
    assert.equal(entries.at(-1)?.kind, 'run_finished');
    for (const s of sites) s.client.close();
  } finally {
    restore();
    await h.close();
  }
});
