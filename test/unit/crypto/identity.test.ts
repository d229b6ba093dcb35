// Identity files and allowlists, and the `fedistill keys` command that writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { loadAllowlist } from '../../../shared/crypto/allowlist.ts';
import { encodePublicKey, fingerprint, generateIdentity, readIdentityFile, writeIdentityFile } from '../../../shared/crypto/identity.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedistill-keys-'));
const capture = () => { const out: string[] = []; const err: string[] = []; return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err }; };

test('keys generate writes a 0600 file, prints key and fingerprint, and refuses to overwrite', async () => {
  const file = join(dir, 'site.key');
  const c = capture();
  assert.equal(await runCli(['keys', 'generate', '--out', file, '--json'], c.io), 0);
  const printed = JSON.parse(c.out[0]!);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const id = readIdentityFile(file);
  assert.equal(printed.public_key, encodePublicKey(id.publicKey));
  assert.match(printed.fingerprint, /^[0-9a-f]{4}(:[0-9a-f]{4}){3}$/);
  assert.equal(printed.fingerprint, fingerprint(id.publicKey));
  const again = capture();
  assert.equal(await runCli(['keys', 'generate', '--out', file], again.io), 1);
  assert.match(again.err.join(''), /E_KEY_FILE_EXISTS/);
  assert.deepEqual(readIdentityFile(file).secretKey, id.secretKey, 'the original key is untouched');
  const shown = capture();
  assert.equal(await runCli(['keys', 'show', file], shown.io), 0);
  assert.match(shown.out.join(''), new RegExp(printed.fingerprint));
});

test('a key file others can read, or a corrupt one, is refused; what the file is comes before its mode', () => {
  const file = join(dir, 'loose.key');
  writeFileSync(file, '{}', { mode: 0o600 });
  assert.throws(() => readIdentityFile(file), { code: 'E_KEY_FILE_INVALID' });
  chmodSync(file, 0o644);
  // not a key at all: "chmod 600" would be the wrong advice
  assert.throws(() => readIdentityFile(file), { code: 'E_KEY_FILE_INVALID' });
  const key = join(dir, 'real-loose.key');
  writeIdentityFile(key, generateIdentity());
  chmodSync(key, 0o644);
  assert.throws(() => readIdentityFile(key), { code: 'E_KEY_FILE_MODE', message: /chmod 600/ });
  // a huge file or a device is refused without being read whole
  const big = join(dir, 'big.key');
  writeFileSync(big, Buffer.alloc(1 << 20, 0x20), { mode: 0o600 });
  assert.throws(() => readIdentityFile(big), { code: 'E_KEY_FILE_INVALID', message: /over 65536 bytes/ });
  assert.throws(() => readIdentityFile('/dev/zero'), { code: 'E_KEY_FILE_INVALID', message: /not a regular file/ });
  // a missing file says what to do, not the bare errno text
  assert.throws(() => readIdentityFile(join(dir, 'nope.key')), { code: 'E_KEY_FILE_INVALID', message: /nope\.key: no such file; check the path, or create one with "fedistill keys generate --out FILE"$/ });
});

test('allowlist files map public keys to unique site names', () => {
  const a = generateIdentity();
  const b = generateIdentity();
  const file = join(dir, 'allow.yaml');
  writeFileSync(file, `sites:\n  "${encodePublicKey(a.publicKey)}": hospital-a\n  "${encodePublicKey(b.publicKey)}": hospital-b\n`);
  const list = loadAllowlist(file);
  assert.equal(list.siteNameOf(a.publicKey), 'hospital-a');
  assert.equal(list.siteNameOf(generateIdentity().publicKey), undefined);
  writeFileSync(file, `"${encodePublicKey(a.publicKey)}": same\n"${encodePublicKey(b.publicKey)}": same\n`);
  assert.throws(() => loadAllowlist(file), { code: 'E_ALLOWLIST_INVALID' });
  writeFileSync(file, `"not-a-key": x\n`);
  assert.throws(() => loadAllowlist(file), { code: 'E_ALLOWLIST_INVALID' });
  // names every object inherits would read the prototype's value wherever a name keys a plain object
  for (const name of ['constructor', 'toString', 'hasOwnProperty']) {
    writeFileSync(file, `"${encodePublicKey(a.publicKey)}": ${name}\n`);
    assert.throws(() => loadAllowlist(file), { code: 'E_ALLOWLIST_INVALID', message: new RegExp(`site name "${name}" is reserved`) });
  }
});
