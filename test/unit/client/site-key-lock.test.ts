// The site-key lock's folder must be this user's own: in a folder others can write, another user who
// knows the public key could hold the lock first, or leave a file that locks nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { lockSiteKey, ownLockFolder, siteKeyLockFolder, siteKeyLockPath } from '../../../client/run-site.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';
import { tryLockFile } from '../../../shared/util/file-lock.ts';

test('the lock folder is made mode 700, and one open to others, a link or a file is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-lockdir-'));
  try {
    const mine = join(dir, 'mine');
    ownLockFolder(mine);
    assert.equal(statSync(mine).mode & 0o777, 0o700);
    ownLockFolder(mine); // there already, and safe
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.throws(() => ownLockFolder(open), /is open to other users \(mode 777\); it must be 700/);
    symlinkSync(mine, join(dir, 'link'));
    assert.throws(() => ownLockFolder(join(dir, 'link')), /is not a folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the site-key lock lives in the user\'s own folder ($XDG_RUNTIME_DIR, else the home folder), named by the public key', () => {
  const { publicKey } = generateIdentity();
  const path = siteKeyLockPath(publicKey);
  assert.equal(join(path, '..'), siteKeyLockFolder());
  assert.match(path, /\/fedistill-site-[0-9a-f]{16}$/);
  const saved = process.env.XDG_RUNTIME_DIR;
  try {
    process.env.XDG_RUNTIME_DIR = '/run/user/4242';
    assert.equal(siteKeyLockFolder(), '/run/user/4242/fedistill-locks');
    delete process.env.XDG_RUNTIME_DIR;
    assert.equal(siteKeyLockFolder(), join(homedir(), '.fedistill', 'locks'));
    // never the shared temporary folder, where another user could make the folder first
    assert.ok(!siteKeyLockFolder().startsWith(tmpdir()));
  } finally {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR; else process.env.XDG_RUNTIME_DIR = saved;
  }
  const lock = lockSiteKey('k', publicKey, () => {});
  try {
    assert.ok(lock);
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
    assert.throws(() => lockSiteKey('copy', publicKey, () => {}), { code: 'E_SITE_KEY_IN_USE' });
    assert.ok(existsSync(`${path}-lock`));
  } finally {
    lock?.release();
  }
  // one file per key would pile up (every test run makes new keys): the holder deletes it on release
  assert.ok(!existsSync(`${path}-lock`));
  const again = lockSiteKey('k', publicKey, () => {});
  assert.ok(again, 'taken again after its file was deleted');
  again!.release();
  assert.ok(!existsSync(`${path}-lock`));
});

test('a lock whose file is deleted under it (by a holder letting go) is no lock: the taker checks the file it locked is still the one at the path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-lockrace-'));
  try {
    const guarded = join(dir, 'k');
    const first = tryLockFile(guarded, { removeOnRelease: true })!;
    assert.ok(first && existsSync(`${guarded}-lock`));
    // held: refused, in this process without touching the file (closing a descriptor of it would
    // drop this process's lock, the holder's included: another process could then take it)
    assert.equal(tryLockFile(guarded, { removeOnRelease: true }), undefined);
    const other = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      `const { tryLockFile } = await import(${JSON.stringify(new URL('../../../shared/util/file-lock.ts', import.meta.url).href)}); console.log(tryLockFile(${JSON.stringify(guarded)}, { removeOnRelease: true }) ? 'got' : 'refused');`], { encoding: 'utf8' });
    assert.equal(other.stdout.trim(), 'refused', other.stderr);
    first.release();
    assert.ok(!existsSync(`${guarded}-lock`));
    // a lock file without removeOnRelease (ledger, database) stays, as before
    tryLockFile(guarded)!.release();
    assert.ok(existsSync(`${guarded}-lock`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
