// What one site cannot do to a run: pick its own weight, keep a round retrying forever, grow the
// audit log with join/leave cycles, or write raw control characters into the operator's log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDatabase } from '../../../server/run-database.ts';
import { Aggregator } from '../../../server/aggregator.ts';
import { stalledError, strategyFor } from '../../../server/run-aggregator.ts';
import type { RunConfig } from '../../../server/run-config.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';
import type { ReplyMessage } from '../../../protocols/messages.ts';
import { SCRIPTED_PUBLIC_SET, ScriptedHub, type ScriptedAnswer, scriptedRunConfig } from './scripted-hub.ts';

const CLASSES = SCRIPTED_PUBLIC_SET.numClasses;

/** A PATE reply putting `teachers` votes per row on `classOf(index)`, declaring `declared` teachers. */
function votesReply(honest: ReplyMessage, indices: Uint32Array, teachers: number, declared: number | undefined, classOf: (idx: number) => number): ReplyMessage {
  const votes = new Int32Array(indices.length * CLASSES);
  indices.forEach((idx, r) => { votes[r * CLASSES + classOf(idx)] = teachers; });
  const { soft: _soft, stats: _stats, ...rest } = honest as unknown as Record<string, unknown>;
  return { ...rest, replyKind: 'vote_histogram', votes, ...(declared === undefined ? {} : { stats: { teachers: declared } }) } as unknown as ReplyMessage;
}

/** PATE with noise small enough that a 2-vote lead always wins; every sample is answered. */
function pateConfig(dir: string, over: Record<string, unknown> = {}): RunConfig {
  return scriptedRunConfig(join(dir, 'run.db'), {
    strategy: { name: 'pate', queries_per_round: 12, threshold: 0, sigma1: 0.05, sigma2: 0.05 }, privacy: { epsilon: 1e9, delta: 1e-5 },
    rounds: 1, quorum: 2, min_sites: 3, round_timeout_s: 2, straggler_grace_s: 0.2, ...over,
  });
}

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-agg-limits-'));
  try { return await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

const honestClass = (idx: number) => idx % CLASSES;
const attackerClass = (idx: number) => (idx + 1) % CLASSES;

test('a site declaring more teachers than the run pins is refused (E_REPLY_INVALID) and decides no label', () => inTempDir(async (dir) => {
  const config = pateConfig(dir);
  const answer: ScriptedAnswer = (site, q, honest) => site === 'site-3'
    ? votesReply(honest, q.indices, 65_535, 65_535, attackerClass)
    : votesReply(honest, q.indices, 1, 1, honestClass);
  const hub = new ScriptedHub(3, answer);
  const db = new RunDatabase(config.database);
  const log: string[] = [];
  const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET, log: (l) => log.push(l) });
  const running = agg.run();
  hub.connect();
  const summary = await running;
  assert.equal(summary.status, 'complete');
  assert.deepEqual(summary.rounds[0]!.participants, ['site-1', 'site-2']);
  const failure = summary.rounds[0]!.failures.find((f) => f.site === 'site-3');
  assert.equal(failure?.reason, 'invalid');
  assert.match(failure!.detail!, /^E_REPLY_INVALID: stats\.teachers is 65535, but this run pins privacy\.teachers_per_site = 1/);
  assert.ok(log.some((l) => /site-3 invalid \(E_REPLY_INVALID/.test(l)), log.join('\n'));
  // the site is told why, in a notice
  const notices = (hub.session('site-3') as unknown as { sent: Record<string, unknown>[] }).sent.filter((m) => m.type === 'error');
  assert.equal(notices[0]?.code, 'E_REPLY_INVALID');
  const consensus = (hub.session('site-1') as unknown as { sent: { type: string; indices?: Uint32Array; labels?: Int32Array }[] }).sent.find((m) => m.type === 'consensus')!;
  assert.equal(consensus.labels!.length, 12);
  consensus.indices!.forEach((idx, r) => assert.equal(consensus.labels![r], honestClass(idx), `label of sample ${idx}`));
  assert.equal(summary.rounds[0]!.metrics.teachers, 2);
  db.close();
}));

test('privacy.teachers_per_site pins k teachers per site: k-vote replies count k each, another count or none is refused', () => inTempDir(async (dir) => {
  const config = pateConfig(dir, { privacy: { epsilon: 1e9, delta: 1e-5, teachers_per_site: 3 }, quorum: 2, min_sites: 3 });
  const answer: ScriptedAnswer = (site, q, honest) => site === 'site-3'
    ? votesReply(honest, q.indices, 1, undefined, attackerClass) // no stats: read as 1 teacher, not 3
    : votesReply(honest, q.indices, 3, 3, honestClass);
  const hub = new ScriptedHub(3, answer);
  const db = new RunDatabase(config.database);
  const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET });
  const running = agg.run();
  hub.connect();
  const summary = await running;
  assert.equal(summary.status, 'complete');
  assert.equal(summary.rounds[0]!.metrics.teachers, 6);
  assert.match(summary.rounds[0]!.failures.find((f) => f.site === 'site-3')!.detail!, /stats\.teachers is 1, but this run pins privacy\.teachers_per_site = 3/);
  db.close();
}));

test('a round kept below quorum stops the run as stalled after max_round_attempts; a restart resumes it', () => inTempDir(async (dir) => {
  const config = pateConfig(dir, { quorum: 2, min_sites: 2, max_round_attempts: 3 });
  let sabotage = true;
  const ids: string[] = [];
  const answer: ScriptedAnswer = (site, q, honest) => (site === 'site-1' && ids.push(q.requestId), votesReply(honest, q.indices, 1, site === 'site-2' && sabotage ? 0 : 1, honestClass));
  const db = new RunDatabase(config.database);
  const auditDb = new AuditLog(new SqliteAuditStore(db.sqlite), generateIdentity());
  const hub = new ScriptedHub(2, answer);
  const log: string[] = [];
  const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET, audit: auditDb, log: (l) => log.push(l) });
  const running = agg.run();
  hub.connect();
  const summary = await running;
  assert.equal(summary.status, 'stalled');
  assert.equal(hub.asked.get('site-1'), 3, 'the honest site is asked once per attempt, and no more');
  assert.deepEqual({ ...summary.stalled, failures: undefined }, { round: 0, attempts: 3, replies: 1, quorum: 2, failures: undefined });
  assert.equal(db.getRun(config.runId)!.status, 'stalled');
  assert.equal(db.releases(config.runId).length, 0);
  const finished = auditDb.entries(config.runId).at(-1)!;
  assert.equal(finished.kind, 'run_finished');
  assert.deepEqual({ status: (finished.data as Record<string, unknown>).status, attempts: (finished.data as Record<string, unknown>).attempts }, { status: 'stalled', attempts: 3 });
  assert.ok(log.some((l) => /E_ROUND_STALLED/.test(l)), log.join('\n'));
  const err = stalledError(config, summary);
  assert.equal(err.code, 'E_ROUND_STALLED');
  assert.match(err.message, /site-2 \(invalid\).*restart with the same config to resume/);

  // the operator fixes the site and restarts: the run resumes at the stalled round, under request
  // ids no site answered before (a restarted site could only refuse those), and completes
  sabotage = false;
  const before = ids.splice(0);
  assert.deepEqual(before, ['crash.r0.site-1', 'crash.r0.a1.site-1', 'crash.r0.a2.site-1']);
  const hub2 = new ScriptedHub(2, answer);
  const agg2 = new Aggregator({ db, config, strategy: strategyFor(config), hub: hub2, publicSet: SCRIPTED_PUBLIC_SET, audit: auditDb });
  const again = agg2.run();
  hub2.connect();
  const resumed = await again;
  assert.equal(resumed.status, 'complete');
  assert.deepEqual(ids, ['crash.r0.a3.site-1']);
  assert.equal(db.getRun(config.runId)!.status, 'complete');
  assert.equal(db.releases(config.runId).length, 1);
  db.close();
}));

test('join/leave cycles add one site_joined entry per run and key, even across a restart', () => inTempDir(async (dir) => {
  const config = pateConfig(dir, { quorum: 2, min_sites: 2, join_timeout_s: 30 });
  const db = new RunDatabase(config.database);
  const audit = new AuditLog(new SqliteAuditStore(db.sqlite), generateIdentity());
  const joins = (site: string) => audit.entries(config.runId).filter((e) => e.kind === 'site_joined' && e.site === site).length;
  const hub = new ScriptedHub(2);
  const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET, audit });
  const running = agg.run();
  await new Promise((r) => setTimeout(r, 50)); // the run record exists; the run waits for two sites
  for (let i = 0; i < 30; i++) hub.reconnect('site-1', { leave: true });
  assert.equal(joins('site-1'), 1);
  // another key for the same site name (an allowlist edit) is a different join, logged once too
  for (let i = 0; i < 3; i++) hub.reconnect('site-1', { keyByte: 77, leave: true });
  assert.equal(joins('site-1'), 2);
  agg.stop();
  assert.equal((await running).status, 'stopped');
  // a restarted aggregator reads the log: the same keys are not logged again
  const hub2 = new ScriptedHub(2);
  const agg2 = new Aggregator({ db, config, strategy: strategyFor(config), hub: hub2, publicSet: SCRIPTED_PUBLIC_SET, audit });
  const again = agg2.run();
  hub2.reconnect('site-1', { keyByte: 77 });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(joins('site-1'), 2);
  agg2.stop();
  await again;
  db.close();
}));

test('a site\'s error message and close reason reach the operator log escaped, one line each', () => inTempDir(async (dir) => {
  const config = pateConfig(dir, { quorum: 1, min_sites: 2 });
  const forged = 'boom\n[aggregator] round 9/9: forged line\r\u001b[2J\u2028';
  const answer: ScriptedAnswer = (site, q, honest) => site === 'site-2'
    ? { type: 'error', code: 'E_SITE_FAILED', requestId: q.requestId, message: forged } as unknown as ReplyMessage
    : votesReply(honest, q.indices, 1, 1, honestClass);
  const hub = new ScriptedHub(2, answer);
  const db = new RunDatabase(config.database);
  const log: string[] = [];
  const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET, log: (l) => log.push(l) });
  const running = agg.run();
  hub.connect();
  await running;
  (hub.session('site-2') as unknown as { emit(e: string, info: unknown): void }).emit('close', { code: 4000, reason: `bye\n[aggregator] forged\u001b]0;title\u0007`, local: false });
  for (const l of log) assert.doesNotMatch(l, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, JSON.stringify(l));
  assert.ok(log.some((l) => l.includes('boom\\n[aggregator] round 9/9: forged line\\r\\u001b[2J\\u2028')), log.join('\n'));
  assert.ok(log.some((l) => l.includes('closed by the site: bye\\n[aggregator] forged\\u001b]0;title\\u0007')), log.join('\n'));
  db.close();
}));

test('restarting a run that already ended returns at once: no wait for sites, no second run_finished', () => inTempDir(async (dir) => {
  const config = pateConfig(dir, { min_sites: 2, join_timeout_s: 30 });
  const answer: ScriptedAnswer = (_site, q, honest) => votesReply(honest, q.indices, 1, 1, honestClass);
  const db = new RunDatabase(config.database);
  const audit = new AuditLog(new SqliteAuditStore(db.sqlite), generateIdentity());
  const hub = new ScriptedHub(2, answer);
  const first = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET, audit });
  const running = first.run();
  hub.connect();
  assert.equal((await running).status, 'complete');
  const finishedEntries = () => audit.entries(config.runId).filter((e) => e.kind === 'run_finished').length;
  assert.equal(finishedEntries(), 1);
  // no site connects this time: the old code waited join_timeout_s (30 s) and failed with E_QUORUM_TIMEOUT
  const log: string[] = [];
  const t0 = Date.now();
  const again = await new Aggregator({ db, config, strategy: strategyFor(config), hub: new ScriptedHub(2, answer), publicSet: SCRIPTED_PUBLIC_SET, audit, log: (l) => log.push(l) }).run();
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  assert.equal(again.status, 'complete');
  assert.equal(again.rounds.length, 0);
  assert.ok(again.epsilon > 0);
  assert.equal(finishedEntries(), 1);
  assert.ok(log.some((l) => /already ended \(complete\); nothing to do/.test(l)), log.join('\n'));
  db.close();
}));

test('endRun announces the end of a finished run in every session (1000) and to sites that join later; a stalled or stopped run is left to resume', () => inTempDir(async (dir) => {
  const config = pateConfig(dir, { min_sites: 2 });
  const db = new RunDatabase(config.database);
  const hub = new ScriptedHub(2, (_site, q, honest) => votesReply(honest, q.indices, 1, 1, honestClass));
  const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET });
  const running = agg.run();
  hub.connect();
  const summary = await running;
  type Closes = { closes: { code: number; reason: string }[] };
  const closesOf = (name: string) => (hub.session(name) as unknown as Closes).closes;
  agg.endRun({ runId: summary.runId, status: 'stalled' });
  assert.deepEqual(closesOf('site-1'), [], 'a stalled run may resume: its sites are not told to stop');
  agg.endRun(summary);
  for (const site of ['site-1', 'site-2']) assert.deepEqual(closesOf(site), [{ code: 1000, reason: `run ${config.runId} ended: complete` }]);
  // a site that reconnects afterwards is told the same at its join
  const late = hub.reconnect('site-1') as unknown as Closes;
  assert.deepEqual(late.closes, [{ code: 1000, reason: `run ${config.runId} ended: complete` }]);
  db.close();
}));
