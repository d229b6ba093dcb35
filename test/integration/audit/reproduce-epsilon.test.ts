// scripts/reproduce-epsilon.mjs, the auditor's independent ε check, on exports of real runs (aggregator,
// loopback websockets, SQLite ledger and audit log): it agrees with the ledger, fails on a tampered noise record, and
// says when its verdict rests on an unpinned key, an unsigned head or an unfinished run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator } from '../../../server/aggregator.ts';
import { RunDatabase } from '../../../server/run-database.ts';
import { validateRunConfig } from '../../../server/run-config.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { exportAuditLog } from '../../../shared/audit/audit-export.ts';
import type { QueryReply, QueryRequest } from '../../../protocols/messages.ts';
import type { Identity } from '../../../shared/crypto/identity.ts';
import { allowlist, clientFor, serverIdentity, siteA, siteB, startServer } from '../channel/helpers.ts';
import { honestReply, PUBLIC_SET } from '../channel/aggregator-fixture.ts';

const SCRIPT = 'scripts/reproduce-epsilon.mjs';

interface ScriptResult { code: number | null; report: { ok: boolean; key_pinned: boolean; head_signed: boolean; finished: boolean; notes: string[]; releases: number; chain: { ok: boolean; problem?: string }; scopes: Record<string, { epsilon_reproduced: number; epsilon_ledger: number; rel_diff: number; epsilon_from_events: number; agrees: boolean }>; findings: string[]; unreproducible: unknown[] }; stderr: string }

/** Runs the script as an auditor would: a separate node process, no project code loaded. */
function reproduce(file: string, ...options: string[]): ScriptResult {
  const r = spawnSync(process.execPath, [SCRIPT, file, ...options], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, report: JSON.parse(r.stdout), stderr: r.stderr };
}

/** Soft-label reply: one probability row per sample, peaked at (index mod classes). */
function softReply(q: QueryRequest): Omit<QueryReply, 'v'> {
  const cols = PUBLIC_SET.numClasses;
  const soft = new Float32Array(q.indices.length * cols).fill(0.1);
  q.indices.forEach((idx, r) => { soft[r * cols + (idx % cols)] = 0.8; });
  return { type: 'query_reply', requestId: q.requestId, round: q.round, replyKind: 'soft_labels', rows: q.indices.length, cols, soft, stats: { teachers: 1 } };
}

/** The lines the script printed to stderr as notes, without their prefix. */
function notesOn(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('reproduce-epsilon: note: ')).map((l) => l.slice('reproduce-epsilon: note: '.length));
}

/**
 * One real run on database `dbPath` (two scripted sites over the secure channel, real ledger and
 * signed audit log), then `fedistill audit export`'s text for it: with the aggregator's identity
 * (head signed) in `dir/<runId>.audit.jsonl`, and without it in `dir/<runId>.unsigned.audit.jsonl`.
 */
async function runAndExport(dir: string, dbPath: string, runId: string, strategy: Record<string, unknown>, reply: (q: QueryRequest) => Omit<QueryReply, 'v'>, noiseMultiplier = 3): Promise<{ signed: string; unsigned: string }> {
  const server = await startServer();
  const db = new RunDatabase(dbPath);
  const clients: { close(): void }[] = [];
  try {
    const config = validateRunConfig({
      run_id: runId, identity: 'in-memory', allowlist: 'in-memory', database: dbPath, public_set: PUBLIC_SET.spec, strategy,
      privacy: { epsilon: 1e6, delta: 1e-5, clip: 1, noise_multiplier: noiseMultiplier }, rounds: 3, quorum: 2, min_sites: 2,
      round_timeout_s: 5, straggler_grace_s: 0.2, join_timeout_s: 5,
    });
    const aggregator = new Aggregator({ db, config, strategy: strategyFor(config), hub: server, publicSet: PUBLIC_SET, log: () => {}, audit: new AuditLog(new SqliteAuditStore(db.sqlite), serverIdentity) });
    const running = aggregator.run();
    for (const id of [siteA, siteB]) clients.push(await joinSite(server, id, reply));
    const summary = await running;
    assert.equal(summary.status, 'complete');
    aggregator.endRun(summary);
    const signed = join(dir, `${runId}.audit.jsonl`);
    writeFileSync(signed, exportAuditLog(new SqliteAuditStore(db.sqlite), runId, serverIdentity));
    const unsigned = join(dir, `${runId}.unsigned.audit.jsonl`);
    writeFileSync(unsigned, exportAuditLog(new SqliteAuditStore(db.sqlite), runId));
    return { signed, unsigned };
  } finally {
    for (const c of clients) c.close();
    await server.close();
    db.close();
  }
}

/** A site that joins under its allowlisted name, answers every query with `reply` and reports metrics. */
async function joinSite(server: Awaited<ReturnType<typeof startServer>>, identity: Identity, reply: (q: QueryRequest) => Omit<QueryReply, 'v'>): Promise<{ close(): void }> {
  const client = clientFor(server, identity);
  client.on('message', (m) => {
    if (m.type === 'query_request') client.send(reply(m));
    else if (m.type === 'consensus') client.send({ type: 'metrics', round: m.round, values: { accuracy: 0.5 } });
  });
  const session = await client.start();
  const siteName = allowlist.siteNameOf(identity.publicKey)!;
  const welcome = await session.request({ type: 'join', siteName, capabilities: ['soft_labels', 'vote_histogram'], datasetHashes: { public_set: PUBLIC_SET.hash } });
  assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
  return client;
}

test('a DS-FL run and a PATE run on one database: the script reproduces every scope\'s ε; a tampered noise record fails it; it notes an unpinned key, an unsigned head and an unfinished run', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-reproduce-'));
  try {
    const dbPath = join(dir, 'agg.db');
    const { signed: dsfl, unsigned: dsflUnsigned } = await runAndExport(dir, dbPath, 'soft', { name: 'dsfl', queries_per_round: 6 }, softReply);
    // the second run charges the same sites again: their scopes carry the first run's charges in
    const { signed: pate } = await runAndExport(dir, dbPath, 'votes', { name: 'pate', queries_per_round: 5, threshold: 0, sigma1: 2, sigma2: 3 }, honestReply);

    // pinned to the aggregator's key: the script recomputes every hash and signature itself
    const a = reproduce(dsfl, '--public-key', Buffer.from(serverIdentity.publicKey).toString('base64'));
    assert.equal(a.code, 0, JSON.stringify(a.report, null, 2) + a.stderr);
    assert.deepEqual(a.report.chain, { ok: true });
    // pinned, head signed, run finished: nothing left to note
    assert.deepEqual([a.report.key_pinned, a.report.head_signed, a.report.finished], [true, true, true]);
    assert.deepEqual(a.report.notes, []);
    assert.deepEqual(notesOn(a.stderr), []);
    assert.equal(a.report.releases, 3);
    assert.deepEqual(Object.keys(a.report.scopes).sort(), ['run:soft', 'site:site-a', 'site:site-b']);
    for (const s of Object.values(a.report.scopes)) {
      assert.ok(s.epsilon_reproduced > 0 && s.rel_diff <= 1e-9, JSON.stringify(s));
      assert.ok(Math.abs(s.epsilon_from_events - s.epsilon_ledger) <= 1e-9 * s.epsilon_ledger);
    }

    // unpinned: still ok (notes do not change the verdict), but the report and stderr say the key was not pinned
    const b = reproduce(pate);
    assert.equal(b.code, 0, JSON.stringify(b.report, null, 2) + b.stderr);
    assert.equal(b.report.ok, true);
    assert.deepEqual([b.report.key_pinned, b.report.head_signed, b.report.finished], [false, true, true]);
    assert.equal(b.report.notes.length, 1);
    assert.match(b.report.notes[0]!, /not pinned.*--public-key/);
    assert.deepEqual(notesOn(b.stderr), b.report.notes);
    const site = b.report.scopes['site:site-a']!;
    const run = b.report.scopes['run:votes']!;
    assert.ok(site.epsilon_reproduced > run.epsilon_reproduced, 'the site scope includes the DS-FL run it carried in');

    // Halve the logged noise of the second DS-FL release: the chain breaks, and, whatever the chain
    // says (a rewriter could re-sign under a new key), the reproduced ε no longer matches the ledger's.
    const lines = readFileSync(dsfl, 'utf8').trimEnd().split('\n');
    const releaseLines = lines.map((l, i) => [JSON.parse(l), i] as const).filter(([e]) => e.kind === 'release');
    const [entry, at] = releaseLines[1]!;
    entry.data.mechanism.noise_std /= 2;
    lines[at] = JSON.stringify(entry);
    const tampered = join(dir, 'soft.tampered.jsonl');
    writeFileSync(tampered, `${lines.join('\n')}\n`);
    const t = reproduce(tampered);
    assert.equal(t.code, 1, JSON.stringify(t.report, null, 2));
    assert.equal(t.report.ok, false);
    assert.match(t.report.chain.problem ?? '', /hash does not recompute/);
    assert.equal(t.report.scopes['run:soft']!.agrees, false);
    assert.ok(t.report.scopes['run:soft']!.epsilon_reproduced > t.report.scopes['run:soft']!.epsilon_ledger, 'less noise costs more ε');
    assert.ok(t.report.findings.some((f) => /noise_std/.test(f)), t.report.findings.join('\n'));

    // Unsigned head, pinned key: the export checks out, but the report says its end is unprotected.
    const pinned = Buffer.from(serverIdentity.publicKey).toString('base64');
    const u = reproduce(dsflUnsigned, '--public-key', pinned);
    assert.equal(u.code, 0, JSON.stringify(u.report, null, 2) + u.stderr);
    assert.deepEqual([u.report.key_pinned, u.report.head_signed, u.report.finished], [true, false, true]);
    assert.equal(u.report.notes.length, 1);
    assert.match(u.report.notes[0]!, /head_signature.*--identity/);
    assert.deepEqual(notesOn(u.stderr), u.report.notes);

    // Cut the unsigned export's run_finished off and fix its header to match: the chain still
    // checks out (nothing signs the head), so only `finished: false` and its note reveal it.
    const kept = readFileSync(dsflUnsigned, 'utf8').trimEnd().split('\n');
    assert.equal(JSON.parse(kept.at(-1)!).kind, 'run_finished');
    kept.pop();
    const header = JSON.parse(kept[0]!);
    header.entries = kept.length - 1;
    header.chain_head = JSON.parse(kept.at(-1)!).hash;
    kept[0] = JSON.stringify(header);
    const cut = join(dir, 'soft.cut.jsonl');
    writeFileSync(cut, `${kept.join('\n')}\n`);
    const c = reproduce(cut, '--public-key', pinned);
    assert.equal(c.code, 0, JSON.stringify(c.report, null, 2) + c.stderr);
    assert.deepEqual(c.report.chain, { ok: true });
    assert.deepEqual([c.report.key_pinned, c.report.head_signed, c.report.finished], [true, false, false]);
    assert.equal(c.report.notes.length, 2);
    assert.match(c.report.notes[1]!, /not finished.*ε may still grow/);
    assert.deepEqual(notesOn(c.stderr), c.report.notes);

    // The same cut on the head-signed export: head_signature no longer verifies.
    const signedLines = readFileSync(dsfl, 'utf8').trimEnd().split('\n');
    signedLines.pop();
    const signedHeader = JSON.parse(signedLines[0]!);
    signedHeader.entries = signedLines.length - 1;
    signedHeader.chain_head = JSON.parse(signedLines.at(-1)!).hash;
    signedLines[0] = JSON.stringify(signedHeader);
    const signedCut = join(dir, 'soft.signed-cut.jsonl');
    writeFileSync(signedCut, `${signedLines.join('\n')}\n`);
    const sc = reproduce(signedCut, '--public-key', pinned);
    assert.equal(sc.code, 1, JSON.stringify(sc.report, null, 2));
    assert.match(sc.report.chain.problem ?? '', /head_signature does not verify/);
    assert.equal(sc.report.finished, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run whose RDP stays below δ² at every order: the ledger reports ε = 0 (KL shortcut) and the script reproduces that 0', { timeout: 60_000 }, async () => {
  // z = 10⁷: 3 rounds × 6 rows cost RDP ≈ 2·10⁻¹³ at α = 1.1, below δ² = 10⁻¹⁰, so total variation ≤ δ
  // and ε = 0 (dp_accounting's shortcut); without it the script's ε was positive and the check failed.
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-reproduce-kl-'));
  try {
    const { signed } = await runAndExport(dir, join(dir, 'agg.db'), 'quiet', { name: 'dsfl', queries_per_round: 6 }, softReply, 1e7);
    const r = reproduce(signed, '--public-key', Buffer.from(serverIdentity.publicKey).toString('base64'));
    assert.equal(r.code, 0, JSON.stringify(r.report, null, 2) + r.stderr);
    for (const s of Object.values(r.report.scopes)) assert.deepEqual([s.epsilon_ledger, s.epsilon_reproduced, s.epsilon_from_events, s.agrees], [0, 0, 0, true]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help explains usage; a file that is not an export exits 2', () => {
  const help = spawnSync(process.execPath, [SCRIPT, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: node scripts\/reproduce-epsilon\.mjs EXPORT/);
  for (const field of ['key_pinned', 'head_signed', 'finished', 'notes']) assert.match(help.stdout, new RegExp(`\\b${field}\\b`));
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-reproduce-bad-'));
  try {
    writeFileSync(join(dir, 'x.jsonl'), '{"format":"other"}\n');
    const bad = spawnSync(process.execPath, [SCRIPT, join(dir, 'x.jsonl')], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a fedistill-audit version 1 export/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a data-dependent PATE run: the script names every release it cannot replay, exits 1, and reports no ε for its scopes (null, not 0)', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-reproduce-dd-'));
  try {
    const { signed } = await runAndExport(dir, join(dir, 'agg.db'), 'dd', { name: 'pate', queries_per_round: 5, threshold: 0, sigma1: 2, sigma2: 3, accounting: 'data-dependent' }, honestReply);
    const r = reproduce(signed, '--public-key', Buffer.from(serverIdentity.publicKey).toString('base64'));
    assert.equal(r.code, 1, JSON.stringify(r.report, null, 2) + r.stderr);
    assert.deepEqual(r.report.chain, { ok: true });
    assert.equal(r.report.unreproducible.length >= 3, true, JSON.stringify(r.report.unreproducible));
    for (const [name, s] of Object.entries(r.report.scopes)) {
      // it printed ε 0 ("free") for a scope that had spent ε > 0
      assert.ok(s.epsilon_ledger > 0, name);
      assert.deepEqual([s.epsilon_reproduced, s.rel_diff, s.epsilon_from_events, s.agrees], [null, null, null, false], `${name}: ${JSON.stringify(s)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
