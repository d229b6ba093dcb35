// `fedistill audit export|verify|report|compare` end to end, in process: outputs, exit codes and error codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { encodePublicKey, generateIdentity, writeIdentityFile } from '../../../shared/crypto/identity.ts';
import { buildAuditRun, RELEASED_ROUNDS, RUN } from './audit-fixture.ts';

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

    r = await cli('audit', 'compare', f.siteLedgerPath('a'), out, '--site', 'a');
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^OK: site a, run r1: 3\/4 releases match, 1 refused for budget/);
    r = await cli('audit', 'compare', f.siteLedgerPath('b'), out, '--site', 'b', '--json');
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.out).problems.map((p: { code: string; round: number }) => [p.code, p.round]), [['E_AUDIT_EVENT_MISMATCH', 2]]);
    r = await cli('audit', 'compare', join(f.dir, 'nope.jsonl'), out);
    assert.equal(r.code, 1);
    assert.match(r.err, /E_FILE_NOT_FOUND/);
  } finally {
    f.close();
  }
});
