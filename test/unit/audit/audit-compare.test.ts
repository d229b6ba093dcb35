// A site's own ledger against the aggregator's audit log: same releases, same events, and a worst-case ε at least the aggregator's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { loadAuditSource } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog, type VerifyResult } from '../../../shared/audit/audit-verify.ts';
import { compareSiteLedger } from '../../../shared/audit/audit-compare.ts';
import { siteOfQueryRequestId } from '../../../protocols/request-id.ts';
import type { FedistillError } from '../../../shared/util/errors.ts';
import { type AuditFixture, buildAuditRun, RELEASED_ROUNDS, RUN } from './audit-fixture.ts';

function verified(f: AuditFixture): VerifyResult {
  const s = loadAuditSource(f.exportTo());
  return verifyAuditLog(s.log);
}

test('compare accepts a site ledger that matches the log (the refused round is not a mismatch); an ambiguous site must be named', () => {
  const f = buildAuditRun();
  try {
    const v = verified(f);
    const r = compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), v, { site: 'a' });
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.checked, RELEASED_ROUNDS + 1);
    assert.equal(r.matched, RELEASED_ROUNDS);
    assert.equal(r.refused, 1);
    assert.ok(r.site_epsilon! >= r.aggregator_epsilon!, `${r.site_epsilon} ≥ ${r.aggregator_epsilon}`);
    assert.equal(r.site_epsilon, new SiteLedger(f.siteLedgerPath('a')).epsilon(1e-5));
    // Both sites sent the same events here, so the site cannot be inferred.
    assert.throws(() => compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), v), (e: FedistillError) => e.code === 'E_AUDIT_SITE_REQUIRED');
  } finally {
    f.close();
  }
});

test('compare catches a release logged with a different event than the site sent', () => {
  const f = buildAuditRun({ loggedSiteEvent: (site, round, sent) => (site === 'b' && round === 1 ? { type: 'gaussian', noise_multiplier: 8 } : sent) });
  try {
    const v = verified(f);
    assert.equal(v.ok, true, 'the log itself is consistent: only the site can tell');
    const r = compareSiteLedger(new SiteLedger(f.siteLedgerPath('b')).all(), v, { site: 'b' });
    assert.equal(r.ok, false);
    assert.deepEqual(r.problems.map((p) => [p.code, p.round]), [['E_AUDIT_EVENT_MISMATCH', 1]]);
    assert.equal(r.problems[0]!.request_id, 'q-1-b');
    assert.equal(compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), v, { site: 'a' }).ok, true);
    assert.equal(compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), v).site, 'a', 'only a fits every logged event');
  } finally {
    f.close();
  }
});

test('compare catches releases missing from either side and an aggregator ε above the site\'s worst case', () => {
  const f = buildAuditRun({ extraSiteRounds: [7] });
  try {
    const v = verified(f);
    const r = compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), v, { site: 'a' });
    assert.deepEqual(r.problems.map((p) => [p.code, p.round]), [['E_AUDIT_MISSING_RELEASE', 7]]);
    // A site ledger that lost round 0: the log attributes a release to the site it never recorded,
    // and the aggregator's ε for the site now exceeds what the site's remaining records imply.
    const lost = new SiteLedger(f.siteLedgerPath('a')).all().filter((e) => e.round !== 0 && e.round !== RELEASED_ROUNDS && e.round !== 7)
      .map((e) => ({ ...e, event: { type: 'gaussian' as const, noise_multiplier: 50 } }));
    const codes = compareSiteLedger(lost, v, { site: 'a' }).problems.map((p) => p.code);
    assert.ok(codes.includes('E_AUDIT_UNRECORDED_RELEASE'), codes.join());
    assert.ok(codes.includes('E_AUDIT_SITE_EPSILON'), codes.join());
  } finally {
    f.close();
  }
});

test('the site a ledger entry names: the aggregator\'s request ids end in the site, whatever dots the run or site names hold', () => {
  const at = (requestId: string, runId = 'r1', round = 3) => siteOfQueryRequestId(requestId, runId, round);
  assert.equal(at('r1.r3.site-a'), 'site-a');
  assert.equal(at('r1.r3.a2.site-a'), 'site-a', 'a retried round');
  assert.equal(at('run.r3.v2.r3.hospital.north', 'run.r3.v2'), 'hospital.north');
  assert.equal(at('run-0123456789abcdef.r3.a1.s'), 's', 'a long run id is hashed');
  assert.equal(at('r1.r4.site-a'), undefined, 'another round');
  assert.equal(at('q-3-a'), undefined, 'not the aggregator\'s form');
  assert.equal(at('r1x.r3.site-a'), undefined, 'another run');
});

test('compare takes the site from the ledger\'s request ids: inferred without --site even when every site sent the same events; another --site is refused', () => {
  const f = buildAuditRun({ requestId: (site, round) => `${RUN}.r${round}.${site}` });
  try {
    const v = verified(f);
    const ledgerA = new SiteLedger(f.siteLedgerPath('a')).all();
    const r = compareSiteLedger(ledgerA, v);
    assert.equal(r.site, 'a', 'the events alone could not tell a from b');
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.throws(() => compareSiteLedger(ledgerA, v, { site: 'b' }), (e: FedistillError) => e.code === 'E_AUDIT_SITE_MISMATCH' && e.exitCode === 2
      && /--site b, but this is the ledger of a \(request r1\.r0\.a\): pass --site a, or the ledger of b/.test(e.message));
    const mixed = [...ledgerA.slice(0, 2), ...new SiteLedger(f.siteLedgerPath('b')).all().slice(2)];
    assert.throws(() => compareSiteLedger(mixed, v), (e: FedistillError) => e.code === 'E_AUDIT_SITE_MISMATCH' && e.exitCode === 1 && /several sites: a .*, b /.test(e.message));
  } finally {
    f.close();
  }
});

test('compare messages number rounds from 1, as the aggregator\'s log does; the round field stays 0-based', () => {
  const f = buildAuditRun({ loggedSiteEvent: (site, round, sent) => (site === 'b' && round === 1 ? { type: 'gaussian', noise_multiplier: 8 } : sent) });
  try {
    const p = compareSiteLedger(new SiteLedger(f.siteLedgerPath('b')).all(), verified(f), { site: 'b' }).problems[0]!;
    assert.equal(p.round, 1);
    assert.match(p.message, /^round 2: the site recorded/);
  } finally {
    f.close();
  }
});

test('a ledger whose replies went to another aggregator key is refused (E_AUDIT_KEY_MISMATCH), even when run id, rounds and events all match', () => {
  const f = buildAuditRun();
  try {
    const v = verified(f);
    const entries = new SiteLedger(f.siteLedgerPath('a')).all();
    // the same key as the log's: matches, as before
    const same = compareSiteLedger(entries.map((e) => ({ ...e, aggregator: v.publicKey })), v, { site: 'a' });
    assert.equal(same.ok, true, JSON.stringify(same.problems));
    // another deployment's aggregator (its run was also called the same)
    const other = 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=';
    const r = compareSiteLedger(entries.map((e) => ({ ...e, aggregator: other })), v, { site: 'a' });
    assert.equal(r.ok, false);
    assert.deepEqual([...new Set(r.problems.map((p) => p.code))], ['E_AUDIT_KEY_MISMATCH']);
    assert.match(r.problems[0]!.message, /sent this reply to the aggregator with key AQEB.*but the log is signed by .*different deployments/);
  } finally {
    f.close();
  }
});

test('site events left out of a release for size are matched by their digest: a faithful one passes, a changed one is a mismatch', () => {
  // every site event is named in site_events_omitted with its SHA-256, none copied
  const f = buildAuditRun({ omitSiteEvents: true, loggedSiteEvent: (site, round, sent) => (site === 'b' && round === 1 ? { type: 'gaussian', noise_multiplier: 8 } : sent) });
  try {
    const v = verified(f);
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    assert.ok(v.releases.every((r) => Object.keys(r.data.site_events ?? {}).length === 0 && Object.keys(r.data.site_events_omitted ?? {}).length === 2));
    const a = compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), v, { site: 'a' });
    assert.equal(a.ok, true, JSON.stringify(a.problems));
    assert.equal(a.matched, RELEASED_ROUNDS);
    const b = compareSiteLedger(new SiteLedger(f.siteLedgerPath('b')).all(), v, { site: 'b' });
    assert.deepEqual(b.problems.map((p) => [p.code, p.round]), [['E_AUDIT_EVENT_MISMATCH', 1]]);
    assert.match(b.problems[0]!.message, /sha256 [0-9a-f]{64} \(\d+ bytes, left out of the entry for size\)/);
    assert.equal(compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), v).site, 'a', 'only a fits every logged digest');
  } finally {
    f.close();
  }
});

test('a ledger with no release of the log\'s run is E_AUDIT_RUN_MISMATCH naming its runs; with --site the log is still checked for releases it attributes to that site', () => {
  const f = buildAuditRun();
  try {
    const v = verified(f);
    const otherRun = new SiteLedger(f.siteLedgerPath('a')).all().map((e) => ({ ...e, runId: 'walk1' }));
    assert.throws(() => compareSiteLedger(otherRun, v), (e: FedistillError) => e.code === 'E_AUDIT_RUN_MISMATCH'
      && e.message.includes(`holds no release of run ${RUN}`) && e.message.includes(`its ${otherRun.length} entries are of run walk1`));
    assert.throws(() => compareSiteLedger([], v), (e: FedistillError) => e.code === 'E_AUDIT_RUN_MISMATCH' && /it is empty/.test(e.message));
    // a site that kept no release of this run, named: every release the log attributes to it is unrecorded
    const r = compareSiteLedger(otherRun, v, { site: 'a' });
    assert.equal(r.ok, false);
    assert.equal(r.other_runs, otherRun.length);
    assert.deepEqual(r.problems.filter((p) => p.code === 'E_AUDIT_UNRECORDED_RELEASE').length, RELEASED_ROUNDS);
  } finally {
    f.close();
  }
});

test('a site that added the noise itself is not held to the aggregator\'s charge; with central noise a larger charge is E_AUDIT_SITE_EPSILON', () => {
  // the site records its own (local) noise, 50 σ per unit: a far smaller ε than the central charge the aggregator logs
  const own = { type: 'gaussian' as const, noise_multiplier: 50 };
  const f = buildAuditRun({ loggedSiteEvent: () => own });
  try {
    const v = verified(f);
    const entries = new SiteLedger(f.siteLedgerPath('a')).all().map((e) => ({ ...e, event: own }));
    const local = compareSiteLedger(entries.map((e) => ({ ...e, noise: 'local' as const })), v, { site: 'a' });
    assert.equal(local.ok, true, JSON.stringify(local.problems));
    assert.equal(local.site_noise, 'local');
    assert.ok(local.aggregator_epsilon! > local.site_epsilon!, `${local.aggregator_epsilon} vs ${local.site_epsilon}`);
    const central = compareSiteLedger(entries.map((e) => ({ ...e, noise: 'central' as const })), v, { site: 'a' });
    assert.deepEqual(central.problems.map((p) => p.code), ['E_AUDIT_SITE_EPSILON']);
    assert.equal(central.site_noise, 'central');
    // an older ledger that does not say is held to it, as before, and the finding says how to tell it
    const older = compareSiteLedger(entries, v, { site: 'a' });
    assert.deepEqual(older.problems.map((p) => p.code), ['E_AUDIT_SITE_EPSILON']);
    assert.match(older.problems[0]!.message, /predates its "noise" field.*--site-noise local/);
    assert.equal(older.site_noise, null);
    // ... unless the auditor says, from the site's configuration, who added the noise
    const told = compareSiteLedger(entries, v, { site: 'a', siteNoise: 'local' });
    assert.equal(told.ok, true, JSON.stringify(told.problems));
    assert.equal(told.site_noise, 'local');
    assert.deepEqual(compareSiteLedger(entries, v, { site: 'a', siteNoise: 'central' }).problems.map((p) => p.code), ['E_AUDIT_SITE_EPSILON']);
    // a ledger that records its noise is not overridden: the option is refused, not obeyed
    assert.throws(() => compareSiteLedger(entries.map((e) => ({ ...e, noise: 'central' as const })), v, { site: 'a', siteNoise: 'local' }),
      /records central noise.*only for ledgers that do not say/);
    assert.equal(compareSiteLedger(entries.map((e) => ({ ...e, noise: 'local' as const })), v, { site: 'a', siteNoise: 'local' }).ok, true);
    // the central-noise finding itself carries no such hint
    assert.doesNotMatch(central.problems[0]!.message, /--site-noise/);
  } finally {
    f.close();
  }
});

test('a reply the site recorded in a released round whose signed result names the site among its failures is counted as not aggregated, not E_AUDIT_MISSING_RELEASE', () => {
  // round 1: site a recorded a reply (then crashed before sending it, or was cut off); the aggregator released the round without it
  const f = buildAuditRun({ notAggregated: { site: 'a', round: 1 } });
  try {
    const r = compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), verified(f), { site: 'a' });
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.unaggregated, 1);
    assert.equal(r.matched, r.checked - r.refused - 1);
    // the site's own bound still counts that reply: conservative
    assert.ok(r.site_epsilon! >= r.aggregator_epsilon!);
    // the other site is unaffected
    assert.equal(compareSiteLedger(new SiteLedger(f.siteLedgerPath('b')).all(), verified(f), { site: 'b' }).unaggregated, 0);
  } finally {
    f.close();
  }
});

test('a failures entry that contradicts the log excuses nothing: a round with no release, or a result that also lists the site as a participant', () => {
  // the same result names site a a participant and a failure: an honest aggregator never writes that
  const both = buildAuditRun({ notAggregated: { site: 'a', round: 1, participants: ['a', 'b'] } });
  try {
    assert.deepEqual(compareSiteLedger(new SiteLedger(both.siteLedgerPath('a')).all(), verified(both), { site: 'a' }).problems.map((p) => [p.code, p.round]), [['E_AUDIT_MISSING_RELEASE', 1]]);
  } finally {
    both.close();
  }
  // round 7 was never released: a signed "site a failed" for it would excuse a query the log never accounts for
  const f = buildAuditRun({ extraSiteRounds: [7] });
  try {
    f.auditLog.append({ kind: 'round_result', runId: RUN, round: 7, data: { metrics: {}, participants: ['b'], failures: [{ site: 'a', reason: 'timeout' }] } });
    const r = compareSiteLedger(new SiteLedger(f.siteLedgerPath('a')).all(), verified(f), { site: 'a' });
    assert.deepEqual(r.problems.map((p) => [p.code, p.round]), [['E_AUDIT_MISSING_RELEASE', 7]]);
    assert.equal(r.unaggregated, 0);
  } finally {
    f.close();
  }
});
