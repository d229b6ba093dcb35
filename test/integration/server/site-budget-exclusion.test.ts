// Runs on one aggregator database after a site's own scope ran out in an earlier run: that site is left out (told once,
// audited as budget_refused), the others go on; too few sites left ends the run budget_exhausted. Real sessions on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator, type RunSummary } from '../../../server/aggregator.ts';
import { RunDatabase } from '../../../server/run-database.ts';
import { validateRunConfig } from '../../../server/run-config.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { planRun } from '../../../server/run-plan.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { exportAuditLog, parseAuditExport } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { buildAuditReport } from '../../../shared/audit/audit-report.ts';
import { Allowlist } from '../../../shared/crypto/allowlist.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';
import { SecureServer } from '../../../shared/channel/secure-server.ts';
import { clientFor, closed, serverIdentity } from '../channel/helpers.ts';
import { honestReply, PUBLIC_SET } from './hostile-site-fixture.ts';

const NAMES = ['site-a', 'site-b', 'site-c'];
const IDS = Object.fromEntries(NAMES.map((n) => [n, generateIdentity()]));
const ALLOWLIST = new Allowlist(NAMES.map((n) => [IDS[n]!.publicKey, n] as const));

/** A DS-FL run over the fixture's public set; soft labels charge exactly what the plan says, every round. */
function configFor(runId: string, over: Record<string, unknown> = {}) {
  return validateRunConfig({
    run_id: runId, identity: 'in-memory', allowlist: 'in-memory', database: 'in-memory', public_set: PUBLIC_SET.spec,
    strategy: { name: 'dsfl', queries_per_round: 4 }, privacy: { epsilon: 1e6, delta: 1e-5, clip: 1, noise_multiplier: 3 },
    rounds: 3, quorum: 2, min_sites: 2, round_timeout_s: 5, straggler_grace_s: 0.3, join_timeout_s: 5, ...over,
  });
}

/** A budget that fits three rounds' charges, not four: a site charged for three rounds cannot pay a fourth. */
function threeRoundBudget(): number {
  const eps = planRun(configFor('plan', { rounds: 4 }), PUBLIC_SET.numClasses, PUBLIC_SET.length).epsilonPerRound;
  return (eps[2]! + eps[3]!) / 2;
}

interface Site { queried: number[]; consensus: number[]; notices: string[]; ended: Promise<unknown>; close(): void }

/** One run on `db` with `sites` joined over real secure sessions; returns its summary, log and each site's view. */
async function runOn(db: RunDatabase, audit: AuditLog, runId: string, sites: string[], over: Record<string, unknown>, joinDelayMs: Record<string, number> = {}): Promise<{ summary: RunSummary; log: string[]; sites: Record<string, Site> }> {
  const server = await new SecureServer({ identity: serverIdentity, allowlist: ALLOWLIST, port: 0, handshakesPerSecondPerAddress: Infinity }).listen();
  const config = configFor(runId, over);
  const log: string[] = [];
  const aggregator = new Aggregator({ db, config, strategy: strategyFor(config), hub: server, publicSet: PUBLIC_SET, audit, log: (l) => log.push(l) });
  const running = aggregator.run();
  running.catch(() => {});
  const joined: Record<string, Site> = {};
  try {
    for (const name of sites) {
      if (joinDelayMs[name]) await new Promise((r) => setTimeout(r, joinDelayMs[name]));
      const client = clientFor(server, IDS[name]!);
      const site: Site = { queried: [], consensus: [], notices: [], ended: Promise.resolve(), close: () => client.close() };
      client.on('message', (m) => {
        if (m.type === 'query_request') { site.queried.push(m.round); client.send(honestReply(m)); }
        else if (m.type === 'consensus') { site.consensus.push(m.round); client.send({ type: 'metrics', round: m.round, values: { accuracy: 0.5 } }); }
        else if (m.type === 'error' && m.requestId === undefined) site.notices.push(`${m.code}: ${m.message}`);
      });
      const session = await client.start();
      site.ended = closed(session);
      const welcome = await session.request({ type: 'join', siteName: name, capabilities: ['soft_labels'], datasetHashes: { public_set: PUBLIC_SET.hash } });
      assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
      joined[name] = site;
    }
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => { timer = setTimeout(() => { aggregator.stop(); reject(new Error(`run ${runId} did not finish; log:\n${log.join('\n')}`)); }, 15_000); });
    const summary = await Promise.race([running, guard]).finally(() => clearTimeout(timer));
    aggregator.endRun(summary);
    // the run's end (bye, 1000) comes after everything sent before it: each site has read its notices
    await Promise.all(Object.values(joined).map((s) => s.ended));
    return { summary, log, sites: joined };
  } finally {
    for (const s of Object.values(joined)) s.close();
    await server.close();
  }
}

/** A fresh aggregator database with its signed audit log, and a budget of three rounds per scope; removed afterwards. */
async function onOneDatabase(body: (h: { dir: string; db: RunDatabase; store: SqliteAuditStore; audit: AuditLog; privacy: Record<string, number> }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-site-budget-'));
  const db = new RunDatabase(join(dir, 'agg.db'));
  try {
    const store = new SqliteAuditStore(db.sqlite);
    await body({ dir, db, store, audit: new AuditLog(store, serverIdentity), privacy: { epsilon: threeRoundBudget(), delta: 1e-5, clip: 1, noise_multiplier: 3 } });
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `scripts/reproduce-epsilon.mjs` on the signed export of `runId`, as an auditor runs it (a separate process). */
function reproduce(dir: string, store: SqliteAuditStore, runId: string): { code: number | null; report: { ok: boolean; scopes: Record<string, { epsilon_reproduced: number; agrees: boolean }> }; stderr: string } {
  const file = join(dir, `${runId}.audit.jsonl`);
  writeFileSync(file, exportAuditLog(store, runId, serverIdentity));
  const r = spawnSync(process.execPath, ['scripts/reproduce-epsilon.mjs', file, '--public-key', Buffer.from(serverIdentity.publicKey).toString('base64')], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, report: JSON.parse(r.stdout), stderr: r.stderr };
}

test('a site whose scope ran out in an earlier run is left out of the round where it runs out; the others complete the run, and its log verifies and reproduces', { timeout: 60_000 }, async () => {
  await onOneDatabase(async ({ dir, db, store, audit, privacy }) => {
    const epsilon = privacy.epsilon!;
    // run 1: site-a alone spends two rounds of its three
    const first = await runOn(db, audit, 'first', ['site-a'], { rounds: 2, quorum: 1, min_sites: 1, privacy });
    assert.equal(first.summary.status, 'complete');
    // run 2: site-a can pay for round 1 only; before the fix its refused charge in round 2 ended the run for everyone
    const second = await runOn(db, audit, 'second', NAMES, { rounds: 3, quorum: 2, min_sites: 3, privacy });
    assert.equal(second.summary.status, 'complete', second.log.join('\n'));
    assert.deepEqual(second.summary.rounds.map((r) => r.participants), [NAMES, ['site-b', 'site-c'], ['site-b', 'site-c']]);
    // left out before being asked: site-a answered round 1 only, and was told once, with the code
    assert.deepEqual(second.sites['site-a']!.queried, [0]);
    assert.deepEqual(second.sites['site-a']!.consensus, [0]);
    assert.equal(second.sites['site-a']!.notices.length, 1, second.sites['site-a']!.notices.join('\n'));
    assert.match(second.sites['site-a']!.notices[0]!, /^E_SITE_SCOPE_EXHAUSTED: .*left out of run second.*site:site-a/);
    assert.deepEqual([second.sites['site-b']!.notices, second.sites['site-c']!.notices], [[], []]);
    assert.ok(second.log.some((l) => /^round 2: E_SITE_SCOPE_EXHAUSTED: site site-a left out before querying it: .*"site:site-a"/.test(l)), second.log.join('\n'));
    const refused = audit.entries('second').filter((e) => e.kind === 'budget_refused');
    assert.deepEqual(refused.map((e) => [e.round, e.site, (e.data as { scope: string }).scope]), [[1, 'site-a', 'site:site-a']]);
    // every scope's charges replay: verify (with the database's ledger) and the auditor's script agree
    for (const runId of ['first', 'second']) {
      const v = verifyAuditLog({ ...parseAuditExport(exportAuditLog(store, runId)), ledgerEvents: (scope: string) => db.ledgerEntries(scope).map((e) => e.event) });
      assert.equal(v.ok, true, `${runId}: ${JSON.stringify(v.problem)}`);
      if (runId !== 'second') continue;
      // every round was released: the run's report counts no refused release; site-a's counts its own
      assert.equal(buildAuditReport(v).releases_refused, 0);
      assert.equal(buildAuditReport(v, { site: 'site-a' }).releases_refused, 1);
      assert.equal(buildAuditReport(v, { site: 'site-b' }).releases_refused, 0);
    }
    const r = reproduce(dir, store, 'second');
    assert.equal(r.code, 0, JSON.stringify(r.report, null, 2) + r.stderr);
    assert.deepEqual(Object.keys(r.report.scopes).sort(), ['run:second', 'site:site-a', 'site:site-b', 'site:site-c']);
    for (const s of Object.values(r.report.scopes)) assert.equal(s.agrees, true, JSON.stringify(r.report.scopes));
    assert.ok(r.report.scopes['site:site-a']!.epsilon_reproduced <= epsilon, 'site-a stayed within its budget');
  });
});

test('when fewer than the quorum of sites can still pay for a round, the run ends budget_exhausted before asking anyone', { timeout: 60_000 }, async () => {
  await onOneDatabase(async ({ db, store, audit, privacy }) => {
    const first = await runOn(db, audit, 'first', ['site-a', 'site-b'], { rounds: 3, quorum: 2, min_sites: 2, privacy });
    assert.equal(first.summary.status, 'complete');
    // site-a and site-b have spent all three rounds: site-c alone is below the quorum of 2
    const second = await runOn(db, audit, 'second', NAMES, { rounds: 2, quorum: 2, min_sites: 3, privacy });
    assert.equal(second.summary.status, 'budget_exhausted', second.log.join('\n'));
    assert.deepEqual(second.summary.rounds, []);
    for (const n of NAMES) assert.deepEqual(second.sites[n]!.queried, [], `${n} was not asked: nothing could be released`);
    for (const n of ['site-a', 'site-b']) assert.match(second.sites[n]!.notices.join('\n'), /^E_SITE_SCOPE_EXHAUSTED: /);
    assert.ok(second.log.some((l) => /only 1 of the run's 3 sites can still pay for a round \(quorum 2; left out: site-a, site-b\)/.test(l)), second.log.join('\n'));
    const entries = audit.entries('second');
    assert.deepEqual(entries.filter((e) => e.kind === 'budget_refused').map((e) => e.site).sort(), ['site-a', 'site-b']);
    assert.deepEqual(entries.filter((e) => e.kind === 'release'), []);
    assert.equal((entries.at(-1)!.data as { status: string }).status, 'budget_exhausted');
    assert.equal(db.getRun('second')!.status, 'budget_exhausted');
    const v = verifyAuditLog({ ...parseAuditExport(exportAuditLog(store, 'second')), ledgerEvents: (scope: string) => db.ledgerEntries(scope).map((e) => e.event) });
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    assert.equal(buildAuditReport(v).releases_refused, 1, 'one round, refused for two sites, counts once');
  });
});

test('sites that have not joined yet still count: a spent site among the first to join does not end the run while others may come', { timeout: 60_000 }, async () => {
  await onOneDatabase(async ({ db, audit, privacy }) => {
    // run 1: site-a alone spends its three rounds
    const first = await runOn(db, audit, 'first', ['site-a'], { rounds: 3, quorum: 1, min_sites: 1, privacy });
    assert.equal(first.summary.status, 'complete');
    // run 2: site-a and site-c join first (min_sites 2 is met, only site-c can pay), site-b a moment later
    const second = await runOn(db, audit, 'second', ['site-a', 'site-c', 'site-b'], { rounds: 2, quorum: 2, min_sites: 2, privacy }, { 'site-b': 500 });
    assert.equal(second.summary.status, 'complete', second.log.join('\n'));
    assert.deepEqual(second.summary.rounds.map((r) => r.participants), [['site-b', 'site-c'], ['site-b', 'site-c']]);
    assert.deepEqual(second.sites['site-a']!.queried, []);
    assert.match(second.sites['site-a']!.notices.join('\n'), /^E_SITE_SCOPE_EXHAUSTED: /);
  });
});

test('a round waiting for sites that can still pay names the ones missing, not only who is connected', { timeout: 60_000 }, async () => {
  await onOneDatabase(async ({ db, audit, privacy }) => {
    const first = await runOn(db, audit, 'first', ['site-a'], { rounds: 3, quorum: 1, min_sites: 1, privacy });
    assert.equal(first.summary.status, 'complete');
    // site-a cannot pay another round; site-b joins, site-c (which could pay) does not
    await assert.rejects(runOn(db, audit, 'second', ['site-a', 'site-b'], { rounds: 2, quorum: 2, min_sites: 2, join_timeout_s: 2, privacy }),
      { code: 'E_QUORUM_TIMEOUT', message: 'only 1 of 2 sites that can still pay for a round joined within 2 s (missing of those that can pay: site-c)' });
  });
});
