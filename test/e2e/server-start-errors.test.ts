// `fedistill server` / `fedistill client` on bad ground: a database that is not SQLite or is held by
// another server, a busy port, a quorum no allowlist can meet, a resumed run whose budget changed,
// an output folder that is missing, a site ledger or site key another client holds. Each is one line with a stable code, quickly, never an internal error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { SiteLedger } from '../../client/site-ledger.ts';
import { lockSiteKey } from '../../client/run-site.ts';
import { readIdentityFile } from '../../shared/crypto/identity.ts';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCli } from '../../cli/main.ts';
import { writeDeployment } from '../../simulations/local-deployment.ts';
import { RunDatabase } from '../../server/run-database.ts';
import { loadRunConfig } from '../../server/run-config.ts';
import { checkResumable } from '../../server/run-aggregator.ts';

async function cli(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await runCli(args, { out: () => {}, err: (t) => { err += t + '\n'; } });
  return { code, err };
}

async function deployment(over: Record<string, unknown> = {}, site: Record<string, unknown> = {}): Promise<{ dir: string; runConfig: string; siteConfig: string; database: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-start-err-'));
  const files = await writeDeployment({
    dir, runId: 'r1', sites: 2,
    run: { public_set: 'mnist:test[0:100]', strategy: { name: 'dsfl', queries_per_round: 10 }, privacy: { epsilon: 5 }, rounds: 2, quorum: 2, join_timeout_s: 2, ...over },
    site: { public_set: 'mnist:test[0:100]', data: { dataset: 'mnist:train[0:100]' }, ...site },
  });
  return { dir, runConfig: files.runConfig, siteConfig: files.siteConfigs[0]!, database: files.database };
}

function editYaml(path: string, edit: (o: Record<string, any>) => void): void {
  const o = parse(readFileSync(path, 'utf8')) as Record<string, any>;
  edit(o);
  writeFileSync(path, stringify(o));
}

/** Exit 1 for a failure, 2 for a config (usage) error; one coded line, no internal error. */
function assertOneCodedLine(r: { code: number; err: string }, code: string, why: RegExp, exit = 1): void {
  assert.equal(r.code, exit, r.err);
  assert.doesNotMatch(r.err, /internal error/);
  assert.match(r.err, new RegExp(`\\[${code}\\]`));
  assert.match(r.err, why);
}

test('server: a database file that is not SQLite is E_DB_OPEN, and the file is untouched', async () => {
  const d = await deployment({ database: 'notes.txt' });
  try {
    writeFileSync(join(d.dir, 'notes.txt'), 'my notes\n'.repeat(100));
    assertOneCodedLine(await cli(['server', '--config', d.runConfig]), 'E_DB_OPEN', /notes\.txt is not a fedistill database/);
    assert.equal(readFileSync(join(d.dir, 'notes.txt'), 'utf8'), 'my notes\n'.repeat(100));
  } finally { rmSync(d.dir, { recursive: true, force: true }); }
});

test('server: a second server on the same database stops at once with E_DB_LOCKED', async () => {
  const d = await deployment();
  const first = new RunDatabase(d.database, { exclusive: true });
  try {
    assertOneCodedLine(await cli(['server', '--config', d.runConfig]), 'E_DB_LOCKED', /in use by another fedistill server/);
  } finally { first.close(); rmSync(d.dir, { recursive: true, force: true }); }
});

test('server: a busy port is E_LISTEN_FAILED naming host and port', async () => {
  const d = await deployment();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const port = (blocker.address() as { port: number }).port;
    editYaml(d.runConfig, (o) => { o.listen.port = port; });
    assertOneCodedLine(await cli(['server', '--config', d.runConfig]), 'E_LISTEN_FAILED', new RegExp(`127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`));
    new RunDatabase(d.database, { exclusive: true }).close(); // the failed server let go of its database
  } finally { blocker.close(); rmSync(d.dir, { recursive: true, force: true }); }
});

test('server: a quorum larger than the allowlist is refused before waiting out join_timeout_s', async () => {
  const d = await deployment({ quorum: 3, min_sites: 3 });
  try {
    assertOneCodedLine(await cli(['server', '--config', d.runConfig]), 'E_CONFIG_INVALID', /run\.quorum: is 3, but the allowlist .* has 2 site\(s\)/, 2);
  } finally { rmSync(d.dir, { recursive: true, force: true }); }
});

test('server: resuming with a changed budget is E_RUN_CONFIG_CHANGED; more rounds or a new port are fine', async () => {
  const d = await deployment();
  try {
    const started = loadRunConfig(d.runConfig);
    const db = new RunDatabase(d.database);
    db.createRun(started.runId, JSON.stringify(started), 'h');
    editYaml(d.runConfig, (o) => { o.rounds = 5; o.listen.port = 1; });
    checkResumable(db, loadRunConfig(d.runConfig));
    editYaml(d.runConfig, (o) => { o.privacy.epsilon = 50; });
    assert.throws(() => checkResumable(db, loadRunConfig(d.runConfig)), (e: { code?: string }) => e.code === 'E_RUN_CONFIG_CHANGED');
    editYaml(d.runConfig, (o) => { o.strategy.queries_per_round = 20; o.privacy.epsilon = 5; });
    assert.throws(() => checkResumable(db, loadRunConfig(d.runConfig)), /strategy\.queries_per_round = 10, the config now says 20/);
    db.close();
    editYaml(d.runConfig, (o) => { o.strategy.queries_per_round = 10; o.privacy.epsilon = 50; });
    assertOneCodedLine(await cli(['server', '--config', d.runConfig]), 'E_RUN_CONFIG_CHANGED', /privacy\.epsilon = 5, the config now says 50/);
  } finally { rmSync(d.dir, { recursive: true, force: true }); }
});

test('client: a student_out folder that does not exist fails before any training; a typo gets a did-you-mean', async () => {
  const d = await deployment({}, { student_out: 'missing/student.onnx' });
  try {
    assertOneCodedLine(await cli(['client', '--config', d.siteConfig]), 'E_FILE_WRITE', /missing does not exist/);
    editYaml(d.siteConfig, (o) => { delete o.student_out; o.local = { epoch: 1 }; });
    assertOneCodedLine(await cli(['client', '--config', d.siteConfig]), 'E_CONFIG_INVALID', /local\.epoch: is not a known setting \(did you mean epochs\?\)/, 2);
  } finally { rmSync(d.dir, { recursive: true, force: true }); }
});

test('client: a second client with the same site key (a copy of the file) and another ledger fails at once with E_SITE_KEY_IN_USE; the lock goes with its holder', async () => {
  const d = await deployment();
  const o = parse(readFileSync(d.siteConfig, 'utf8')) as { identity: string; ledger: string };
  const key = resolve(dirname(d.siteConfig), o.identity);
  const publicKey = readIdentityFile(key).publicKey;
  // the first client's hold on the key, in a process of its own
  const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { lockSiteKey } = await import(${JSON.stringify(new URL('../../client/run-site.ts', import.meta.url).href)}); const { readIdentityFile } = await import(${JSON.stringify(new URL('../../shared/crypto/identity.ts', import.meta.url).href)}); globalThis.held = lockSiteKey(${JSON.stringify(key)}, readIdentityFile(${JSON.stringify(key)}).publicKey, console.error); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [first] = await once(holder.stdout!, 'data') as [Buffer];
    assert.equal(first.toString().trim(), 'held');
    // the second client: a copy of the key at another path, its own ledger (refused in process first,
    // so that a lock that does not hold fails here instead of leaving a client retrying its connection)
    copyFileSync(key, join(d.dir, 'copy.key'));
    assert.throws(() => lockSiteKey(join(d.dir, 'copy.key'), readIdentityFile(join(d.dir, 'copy.key')).publicKey, () => {}), { code: 'E_SITE_KEY_IN_USE' });
    editYaml(d.siteConfig, (y) => { y.identity = join(d.dir, 'copy.key'); y.ledger = join(d.dir, 'other.ledger.jsonl'); });
    assertOneCodedLine(await cli(['client', '--config', d.siteConfig]), 'E_SITE_KEY_IN_USE', /copy\.key \(fingerprint [0-9a-f:]+\) is in use by another fedistill client of this user on this machine .*neither ledger would hold the site's whole spend/);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const mine = lockSiteKey(key, publicKey, () => {});
    assert.ok(mine, 'the lock is free once its holder is gone');
    mine.release();
  } finally {
    holder.kill('SIGKILL');
    rmSync(d.dir, { recursive: true, force: true });
  }
});

test('client: a second client on a site ledger another process holds fails at once with E_LEDGER_LOCKED; the lock goes with its holder, kill -9 included', async () => {
  const d = await deployment();
  const ledger = resolve(dirname(d.siteConfig), String((parse(readFileSync(d.siteConfig, 'utf8')) as { ledger: string }).ledger));
  // the first client's hold on the ledger, in a process of its own
  const holder = spawn(process.execPath, ['--import', 'tsx', '-e',
    `const { SiteLedger } = await import(${JSON.stringify(new URL('../../client/site-ledger.ts', import.meta.url).href)}); new SiteLedger(${JSON.stringify(ledger)}, { exclusive: true }); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [first] = await once(holder.stdout!, 'data') as [Buffer];
    assert.equal(first.toString().trim(), 'held');
    assertOneCodedLine(await cli(['client', '--config', d.siteConfig]), 'E_LEDGER_LOCKED', /is in use by another fedistill client .*-lock\): a site runs one client per ledger/);
    // a reader (audit compare) is never refused
    assert.deepEqual(new SiteLedger(ledger).all(), []);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const mine = new SiteLedger(ledger, { exclusive: true });
    assert.throws(() => new SiteLedger(ledger, { exclusive: true }), { code: 'E_LEDGER_LOCKED' });
    mine.close();
    new SiteLedger(ledger, { exclusive: true }).close();
  } finally {
    holder.kill('SIGKILL');
    rmSync(d.dir, { recursive: true, force: true });
  }
});
