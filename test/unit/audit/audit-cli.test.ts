// `fedistill audit export|verify|report|compare` end to end, in process: outputs, exit codes and error codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { encodePublicKey, generateIdentity, writeIdentityFile } from '../../../shared/crypto/identity.ts';
import { RunDatabase } from '../../../server/run-database.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { buildAuditRun, CENTRAL_PARAMS, RELEASED_ROUNDS, RUN } from './audit-fixture.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

test('audit export → verify → report → compare through the CLI, with exit codes 0 and 1', async () => {
  const f = buildAuditRun({ loggedSiteEvent: (site, round, sent) => (site === 'b' && round === 2 ? { type: 'gaussian', noise_multiplier: 3 } : sent) });
  try {
    const keyFile = join(f.dir, 'aggregator.key');
    writeIdentityFile(keyFile, f.identity);
    const out = join(f.dir, 'export.jsonl');
    let r = await cli('audit', 'export', f.dbPath, '--run', RUN, '--out', out, '--identity', keyFile, '--json');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { run_id: RUN, out, entries: 12, head_signed: true });
    assert.equal((await cli('audit', 'export', f.dbPath, '--out', out)).code, 1, 'refuses to overwrite without --force');
    const header = JSON.parse(readFileSync(out, 'utf8').split('\n')[0]!);
    assert.deepEqual(Object.keys(header).sort(), ['chain_head', 'entries', 'format', 'head_signature', 'public_key', 'run_id', 'version']);

    const pub = encodePublicKey(f.identity.publicKey);
    r = await cli('audit', 'verify', out, '--public-key', pub, '--json');
    assert.equal(r.code, 0, r.err);
    const v = JSON.parse(r.out);
    assert.equal(v.ok, true);
    assert.equal(v.releases, RELEASED_ROUNDS);
    assert.equal(v.releases_with_mechanism, RELEASED_ROUNDS, 'the fixture records each release\'s mechanism');
    assert.equal(v.scopes['run:r1'].epsilon, f.ledger.spent('run:r1').epsilon);
    r = await cli('audit', 'verify', f.dbPath);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^OK: run r1, 12 entries/);
    assert.match(r.out, /ledger table: agrees/);

    r = await cli('audit', 'verify', out, '--public-key', encodePublicKey(generateIdentity().publicKey));
    assert.equal(r.code, 1);
    assert.match(r.err, /FAILED: log: E_AUDIT_KEY_MISMATCH/);
    const lines = readFileSync(out, 'utf8').split('\n');
    lines[3] = lines[3]!.replace('"public_key":"key-b"', '"public_key":"key-c"');
    const tampered = join(f.dir, 'tampered.jsonl');
    writeFileSync(tampered, lines.join('\n'));
    r = await cli('audit', 'verify', tampered, '--json');
    assert.equal(r.code, 1);
    assert.deepEqual({ code: JSON.parse(r.out).problem.code, seq: JSON.parse(r.out).problem.seq }, { code: 'E_AUDIT_BAD_HASH', seq: 2 });

    r = await cli('audit', 'report', out, '--format', 'json');
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).releases, RELEASED_ROUNDS);
    const html = join(f.dir, 'report.html');
    r = await cli('audit', 'report', f.dbPath, '--site', 'a', '--format', 'html', '--out', html);
    assert.equal(r.code, 0, r.err);
    assert.match(readFileSync(html, 'utf8'), /<svg /);
    r = await cli('audit', 'report', tampered);
    assert.equal(r.code, 1);
    assert.match(r.out, /verified: NO — seq 2: E_AUDIT_BAD_HASH/);
    // --json: the report, with `ok` saying what the exit code says
    r = await cli('audit', 'report', tampered, '--json');
    assert.equal(r.code, 1);
    assert.deepEqual([JSON.parse(r.out).ok, JSON.parse(r.out).verified], [false, false]);
    assert.equal(JSON.parse((await cli('audit', 'report', out, '--json')).out).ok, true);

    r = await cli('audit', 'compare', f.siteLedgerPath('a'), out, '--site', 'a');
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^OK: site a, run r1: 3\/4 releases match, 1 refused for budget/);
    // the fixture's ledger does not record who added the noise: --site-noise says it, and shows in the JSON
    assert.equal(JSON.parse((await cli('audit', 'compare', f.siteLedgerPath('a'), out, '--site', 'a', '--json')).out).site_noise, null);
    r = await cli('audit', 'compare', f.siteLedgerPath('a'), out, '--site', 'a', '--site-noise', 'local', '--json');
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(JSON.parse(r.out).site_noise, 'local');
    r = await cli('audit', 'compare', f.siteLedgerPath('a'), out, '--site', 'a', '--site-noise', 'lokal');
    assert.equal(r.code, 2);
    assert.match(r.err, /--site-noise must be one of local, central; got "lokal"/);
    r = await cli('audit', 'compare', f.siteLedgerPath('b'), out, '--site', 'b', '--json');
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.out).problems.map((p: { code: string; round: number }) => [p.code, p.round]), [['E_AUDIT_EVENT_MISMATCH', 2]]);
    r = await cli('audit', 'compare', join(f.dir, 'nope.jsonl'), out);
    assert.equal(r.code, 1);
    assert.match(r.err, /E_FILE_NOT_FOUND/);
    // a database that does not exist is not found (it was "not an SQLite database"), and nothing is created
    r = await cli('audit', 'export', join(f.dir, 'nope.db'), '--out', join(f.dir, 'nope.jsonl'));
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot read .*nope\.db \(no such file\); pass the aggregator's database file \[E_FILE_NOT_FOUND\]/);
    assert.ok(!existsSync(join(f.dir, 'nope.db')) && !existsSync(join(f.dir, 'nope.jsonl')));
  } finally {
    f.close();
  }
});

test('audit report --out: with --json (or --format json) stdout is one JSON summary of what was written; --format picks the file\'s format', async () => {
  const f = buildAuditRun();
  try {
    const txt = join(f.dir, 'r.txt');
    let r = await cli('audit', 'report', f.dbPath, '--out', txt, '--format', 'text', '--json');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 1, 'exactly one JSON object');
    const j = JSON.parse(lines[0]!);
    assert.deepEqual({ ok: j.ok, out: j.out, format: j.format, run_id: j.run_id, verified: j.verified, releases: j.releases },
      { ok: true, out: txt, format: 'text', run_id: RUN, verified: true, releases: RELEASED_ROUNDS });
    assert.equal(j.scopes['site:a'].epsilon, f.ledger.spent('site:a').epsilon);
    assert.match(readFileSync(txt, 'utf8'), /^audit report — run r1/);
    // --json alone keeps its old meaning for the file: the report in JSON; --force replaces it.
    r = await cli('audit', 'report', f.dbPath, '--out', txt, '--json', '--force');
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).format, 'json');
    assert.equal(JSON.parse(readFileSync(txt, 'utf8')).releases, RELEASED_ROUNDS);
    const html = join(f.dir, 'r.html');
    r = await cli('audit', 'report', f.dbPath, '--out', html, '--format', 'html', '--json');
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).format, 'html');
    assert.match(readFileSync(html, 'utf8'), /<svg /);
    const json = join(f.dir, 'r.json');
    r = await cli('audit', 'report', f.dbPath, '--out', json, '--format', 'json');
    assert.equal(JSON.parse(r.out).out, json, '--format json is JSON mode: success answers in JSON too');
    r = await cli('audit', 'report', f.dbPath, '--out', join(f.dir, 'r2.txt'));
    assert.equal(r.out, '', 'without --json the report file is all');
    assert.match(r.err, /wrote .*r2\.txt/);
  } finally {
    f.close();
  }
});

test('a database with no runs (an aggregator that never started its run) is E_AUDIT_NO_LOG, exit 1, for verify, report and export', async () => {
  const f = buildAuditRun();
  try {
    const empty = join(f.dir, 'empty.db');
    const db = new RunDatabase(empty);
    new SqliteAuditStore(db.sqlite);
    db.close();
    for (const argv of [['verify', empty, '--json'], ['report', empty, '--json'], ['export', empty, '--out', join(f.dir, 'x.jsonl'), '--json']]) {
      const r = await cli('audit', ...argv);
      assert.equal(r.code, 1, argv.join(' '));
      const e = JSON.parse(r.out).error;
      assert.equal(e.code, 'E_AUDIT_NO_LOG', argv.join(' '));
      assert.match(e.message, /^no runs in this database: .*empty\.db holds no audit log/);
    }
    assert.ok(!existsSync(join(f.dir, 'x.jsonl')));
    // An SQLite file with no audit table at all (as a copy of a database made without its -wal can be) says so
    const bare = join(f.dir, 'bare.db');
    new RunDatabase(bare).close();
    const r = await cli('audit', 'verify', bare, '--json');
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.out).error.code, 'E_AUDIT_NO_LOG');
    assert.match(JSON.parse(r.out).error.message, /has no audit_log table: .*a copy made without its -wal file.*fedistill audit export/);
    // Several runs still ask for --run (a usage error).
    assert.equal((await cli('audit', 'verify', f.dbPath, '--run', 'nope')).code, 1);
  } finally {
    f.close();
  }
});

test('audit compare infers the site from the ledger\'s request ids and refuses --site of another site (E_AUDIT_SITE_MISMATCH, exit 2)', async () => {
  const f = buildAuditRun({ requestId: (site, round) => `${RUN}.r${round}.${site}` });
  try {
    const log = f.exportTo();
    let r = await cli('audit', 'compare', f.siteLedgerPath('a'), log);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^OK: site a, run r1: 3\/4 releases match/);
    r = await cli('audit', 'compare', f.siteLedgerPath('a'), log, '--site', 'b', '--json');
    assert.equal(r.code, 2);
    assert.equal(JSON.parse(r.out).error.code, 'E_AUDIT_SITE_MISMATCH');
    assert.match(r.err, /--site b, but this is the ledger of a/);
  } finally {
    f.close();
  }
});

test('text output numbers rounds from 1 (as the aggregator\'s log does); JSON keeps the log\'s 0-based round', async () => {
  const f = buildAuditRun({ loggedSiteEvent: (site, round, sent) => (site === 'b' && round === 0 ? { type: 'gaussian', noise_multiplier: 3 } : sent) });
  try {
    let r = await cli('audit', 'report', f.dbPath, '--site', 'a');
    const rounds = r.out.split('\n').filter((l) => /^ +seq +\d+ +round/.test(l)).map((l) => Number(/round +(\d+)/.exec(l)![1]));
    assert.deepEqual(rounds, [1, 2, 3]);
    r = await cli('audit', 'report', f.dbPath, '--site', 'a', '--json');
    assert.deepEqual(JSON.parse(r.out).scopes[0].series.map((p: { round: number }) => p.round), [0, 1, 2]);
    r = await cli('audit', 'compare', f.siteLedgerPath('b'), f.dbPath, '--site', 'b');
    assert.equal(r.code, 1);
    assert.match(r.out, /^ {2}round 1: E_AUDIT_EVENT_MISMATCH: round 1: the site recorded/m);
  } finally {
    f.close();
  }
});

test('releases with no mechanism record: verify, report and compare fail with E_AUDIT_UNCHECKED_RELEASE; --allow-unchecked accepts them and says how many', async () => {
  const f = buildAuditRun({ omitMechanism: true });
  try {
    const out = join(f.dir, 'nomech.jsonl');
    let r = await cli('audit', 'export', f.dbPath, '--out', out);
    assert.equal(r.code, 0, r.err + ' (export does not judge the log)');
    const firstRelease = f.auditLog.entries(RUN).find((e) => e.kind === 'release')!.seq;

    r = await cli('audit', 'verify', out);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`FAILED: seq ${firstRelease}: E_AUDIT_UNCHECKED_RELEASE: .*--allow-unchecked`));
    r = await cli('audit', 'verify', out, '--json');
    assert.equal(r.code, 1);
    assert.deepEqual({ ok: JSON.parse(r.out).ok, code: JSON.parse(r.out).problem.code }, { ok: false, code: 'E_AUDIT_UNCHECKED_RELEASE' });
    r = await cli('audit', 'verify', out, '--allow-unchecked', '--json');
    assert.equal(r.code, 0, r.out);
    const v = JSON.parse(r.out);
    assert.deepEqual({ ok: v.ok, releases: v.releases, releases_with_mechanism: v.releases_with_mechanism, releases_unchecked: v.releases_unchecked },
      { ok: true, releases: RELEASED_ROUNDS, releases_with_mechanism: 0, releases_unchecked: RELEASED_ROUNDS });
    r = await cli('audit', 'verify', f.dbPath, '--allow-unchecked');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /unchecked: 3 of 3 releases record no mechanism and were accepted unchecked \(--allow-unchecked\)/);

    // report shows the finding as it shows any other, and exits 1; with the flag it reports and notes the count.
    r = await cli('audit', 'report', out);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`verified: NO — seq ${firstRelease}: E_AUDIT_UNCHECKED_RELEASE`));
    r = await cli('audit', 'report', out, '--allow-unchecked', '--out', join(f.dir, 'r.txt'), '--json');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual({ verified: JSON.parse(r.out).verified, releases_unchecked: JSON.parse(r.out).releases_unchecked }, { verified: true, releases_unchecked: RELEASED_ROUNDS });
    assert.match(r.err, /audit report: 3 of 3 releases record no mechanism/);

    r = await cli('audit', 'compare', f.siteLedgerPath('a'), out, '--site', 'a', '--json');
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.out).problems.map((p: { code: string }) => p.code), ['E_AUDIT_UNCHECKED_RELEASE']);
    r = await cli('audit', 'compare', f.siteLedgerPath('a'), out, '--site', 'a', '--allow-unchecked');
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^OK: site a, run r1: 3\/4 releases match/);
    assert.match(r.err, /audit compare: 3 of 3 releases record no mechanism/);
  } finally {
    f.close();
  }
  // An ordinary log: nothing unchecked, and the run's declared parameters are in the JSON.
  const ok = buildAuditRun();
  try {
    const r = await cli('audit', 'verify', ok.dbPath, '--json');
    assert.equal(r.code, 0, r.out);
    assert.equal(JSON.parse(r.out).releases_unchecked, 0);
    assert.deepEqual(JSON.parse(r.out).mechanism_params, CENTRAL_PARAMS);
  } finally {
    ok.close();
  }
});

test('audit CLI text says whether the key was pinned, names a fingerprint passed as a key, and prints an over-charge as "<"', async () => {
  const f = buildAuditRun();
  try {
    const out = f.exportTo();
    const pub = encodePublicKey(f.identity.publicKey);
    let r = await cli('audit', 'verify', out);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^OK: run r1, 12 entries, .*\(fingerprint [0-9a-f:]+\); chain head signed/);
    assert.match(r.err, /note: the signing key was not pinned: .*compare fingerprint [0-9a-f:]+ with the aggregator's/);
    r = await cli('audit', 'verify', out, '--public-key', pub);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /, the pinned key\); chain head signed/);
    assert.doesNotMatch(r.err, /not pinned/);
    r = await cli('audit', 'verify', f.dbPath, '--public-key', pub);
    assert.doesNotMatch(r.err, /not protected/, 'a run that ended budget_exhausted needs no tail note: nothing is appended after it');
    // a value that is no key at all is a mistyped argument (exit 2), before the log is read
    r = await cli('audit', 'verify', out, '--public-key', '3f2a:91c0:77de:0b41');
    assert.equal(r.code, 2);
    assert.match(r.err, /--public-key: "3f2a:91c0:77de:0b41" is not a base64 Ed25519 public key .*a fingerprint such as 3f2a:91c0:… is not a key\) \[E_INVALID_PARAMETER\]/);
    r = await cli('audit', 'verify', out, '--public-key', encodePublicKey(generateIdentity().publicKey));
    assert.equal(r.code, 1);
    assert.match(r.err, /E_AUDIT_KEY_MISMATCH: .*not signed by the aggregator you pinned/);
    // Arguments the wrong way round, a site ledger given to verify, a site the log does not know.
    r = await cli('audit', 'compare', out, f.siteLedgerPath('a'));
    assert.equal(r.code, 2);
    assert.match(r.err, /is the aggregator's log, not a site's ledger: the site's ledger comes first/);
    r = await cli('audit', 'verify', f.siteLedgerPath('a'));
    assert.equal(r.code, 1);
    assert.match(r.err, /it is a site's ledger: .*audit compare/);
    r = await cli('audit', 'report', out, '--site', 'zz');
    assert.match(r.err, /no site "zz" in this log \(sites: a, b\)/);
  } finally {
    f.close();
  }
  // The aggregator charges each site more (noise multiplier 1) than the site's own event (2) is worth.
  const over = buildAuditRun({ central: { type: 'gaussian', noise_multiplier: 1 }, omitMechanism: true, mechanismParams: null });
  try {
    const r = await cli('audit', 'compare', over.siteLedgerPath('a'), over.dbPath, '--site', 'a', '--allow-unchecked');
    assert.equal(r.code, 1);
    assert.match(r.out, /E_AUDIT_SITE_EPSILON/);
    assert.match(r.out, /site's own worst-case ε = \S+ < aggregator's charge for this run = /);
  } finally {
    over.close();
  }
});

test('the key `audit verify --help` tells jq to read from `keys show --json` is one that command prints', async () => {
  const help = await cli('audit', 'verify', '--help');
  const field = /keys show aggregator\.key --json \| jq -r \.(\w+)/.exec(help.out)?.[1];
  assert.ok(field, help.out);
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-keys-show-'));
  try {
    const id = generateIdentity();
    writeIdentityFile(join(dir, 'aggregator.key'), id);
    const shown = JSON.parse((await cli('keys', 'show', join(dir, 'aggregator.key'), '--json')).out) as Record<string, unknown>;
    assert.equal(shown[field], encodePublicKey(id.publicKey));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
