// Long-term Ed25519 identities: generate, save (0600, never overwrite), load, print, fingerprint.
import { createHash } from 'node:crypto';
import { closeSync, constants, openSync, statSync, writeSync } from 'node:fs';
import nacl from 'tweetnacl';
import { ChannelError } from '../../protocols/error-catalogue.ts';
import { readFileUpTo } from '../util/bounded-read.ts';

/** A key file is a few hundred bytes of JSON; anything far larger is not one (and is not read whole). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** A long-term key pair. `secretKey` is 64 bytes (seed ‖ public key), tweetnacl's layout. */
export interface Identity {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

const FILE_KIND = 'fedistill-ed25519-identity';

/** A fresh Ed25519 identity from the OS CSPRNG (tweetnacl draws from node:crypto). */
export function generateIdentity(): Identity {
  const kp = nacl.sign.keyPair();
  return { publicKey: kp.publicKey, secretKey: kp.secretKey };
}

/** The public key as it appears in allowlists, pins and logs: standard base64 of the 32 bytes. */
export function encodePublicKey(publicKey: Uint8Array): string {
  return Buffer.from(publicKey).toString('base64');
}

/** Parses a base64 public key; throws E_KEY_FILE_INVALID unless it is 32 bytes. */
export function decodePublicKey(text: string, where = 'public key'): Uint8Array {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== trimmed) {
    throw new ChannelError('E_KEY_FILE_INVALID', `${where}: "${trimmed.slice(0, 60)}" is not a base64 Ed25519 public key (32 bytes)`);
  }
  return new Uint8Array(bytes);
}

/**
 * A short, human-comparable fingerprint: the first 8 bytes of SHA-256(public key), hex in groups
 * of four, e.g. "3f2a:91c0:77de:0b41". Operators read it aloud to check a key out of band.
 */
export function fingerprint(publicKey: Uint8Array): string {
  const hex = createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
  return hex.match(/.{4}/g)!.join(':');
}

/** Writes an identity file with mode 0600; refuses (E_KEY_FILE_EXISTS) if the file exists. */
export function writeIdentityFile(path: string, identity: Identity): void {
  const body = JSON.stringify({
    kind: FILE_KIND,
    version: 1,
    publicKey: encodePublicKey(identity.publicKey),
    secretKey: Buffer.from(identity.secretKey).toString('base64'),
    fingerprint: fingerprint(identity.publicKey),
  }, null, 2) + '\n';
  let fd: number;
  try {
    // O_EXCL: the existence check and the create are one atomic step
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ChannelError('E_KEY_FILE_EXISTS', `${path} already exists; refusing to overwrite a key. Choose another --out or remove the file yourself`);
    }
    throw new ChannelError('E_KEY_FILE_INVALID', `cannot create ${path}: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, body);
  } finally {
    closeSync(fd);
  }
}

/** Reads an identity file. Refuses a file others can read (E_KEY_FILE_MODE) or one whose keys do not match. */
export function readIdentityFile(path: string): Identity {
  let read: ReturnType<typeof readFileUpTo>;
  let mode: number;
  try {
    mode = statSync(path).mode;
    read = readFileUpTo(path, MAX_KEY_FILE_BYTES, { regularOnly: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file; check the path, or create one with "fedistill keys generate --out FILE"'
      : code === 'EACCES' ? 'permission denied; run as the user who owns it'
      : (e as Error).message;
    throw new ChannelError('E_KEY_FILE_INVALID', `cannot read key file ${path}: ${why}`);
  }
  if (!read.ok && read.why === 'not_a_file') {
    throw new ChannelError('E_KEY_FILE_INVALID', `cannot read key file ${path}: not a regular file (a pipe, socket or device); expected a file written by "fedistill keys generate"`);
  }
  if (!read.ok) {
    throw new ChannelError('E_KEY_FILE_INVALID', `${path} is ${read.size !== undefined ? `${read.size} bytes, ` : ''}over ${MAX_KEY_FILE_BYTES} bytes, the limit for a key file (a few hundred bytes of JSON); expected a file written by "fedistill keys generate"`);
  }
  // what the file is comes first: "chmod 600" is advice for a key file, not for any file
  const identity = parseIdentity(read.bytes.toString('utf8'), path);
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new ChannelError('E_KEY_FILE_MODE', `${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  }
  return identity;
}

/** Parses the JSON body of an identity file and checks that the public key belongs to the secret key. */
export function parseIdentity(text: string, where: string): Identity {
  let obj: { kind?: unknown; publicKey?: unknown; secretKey?: unknown };
  try {
    obj = JSON.parse(text);
  } catch {
    throw new ChannelError('E_KEY_FILE_INVALID', `${where} is not JSON; expected a file written by "fedistill keys generate"`);
  }
  if (obj?.kind !== FILE_KIND || typeof obj.publicKey !== 'string' || typeof obj.secretKey !== 'string') {
    throw new ChannelError('E_KEY_FILE_INVALID', `${where} is not a fedistill identity file (kind "${FILE_KIND}")`);
  }
  const publicKey = decodePublicKey(obj.publicKey, `${where} publicKey`);
  const secretKey = new Uint8Array(Buffer.from(obj.secretKey, 'base64'));
  if (secretKey.length !== 64) throw new ChannelError('E_KEY_FILE_INVALID', `${where}: secretKey must be 64 bytes of base64`);
  const derived = nacl.sign.keyPair.fromSeed(secretKey.subarray(0, 32)).publicKey;
  if (!Buffer.from(derived).equals(Buffer.from(publicKey)) || !Buffer.from(secretKey.subarray(32)).equals(Buffer.from(publicKey))) {
    throw new ChannelError('E_KEY_FILE_INVALID', `${where}: publicKey does not belong to secretKey; the file is corrupt`);
  }
  return { publicKey, secretKey };
}
