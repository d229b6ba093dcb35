// `fedistill keys`: create and inspect Ed25519 identities for sites and the aggregator.
import type { CommandSpec } from '../parse.ts';
import {
  encodePublicKey, fingerprint, generateIdentity, type Identity, MAX_KEY_FILE_BYTES, parseIdentity, readIdentityFile, writeIdentityFile,
} from '../../shared/crypto/identity.ts';
import { type BoundedRead, readFileUpTo } from '../../shared/util/bounded-read.ts';

/**
 * Reads a key file judging its content before its mode: a file that is no key file at all
 * (README.md) is E_KEY_FILE_INVALID "not a fedistill identity file", not E_KEY_FILE_MODE
 * "chmod 600". A key file readable by others is still refused. The content is read as
 * readIdentityFile reads it (a regular file of at most MAX_KEY_FILE_BYTES, opened non-blocking): a
 * FIFO with no writer, a device (/dev/zero) or a huge file is refused at once, by readIdentityFile,
 * with E_KEY_FILE_INVALID, instead of hanging the command or being read until memory runs out.
 */
export function readKeyFile(path: string): Identity {
  let got: BoundedRead | undefined;
  try { got = readFileUpTo(path, MAX_KEY_FILE_BYTES, { regularOnly: true }); } catch { /* readIdentityFile says why it cannot be read */ }
  if (got?.ok) parseIdentity(got.bytes.toString('utf8'), path);
  return readIdentityFile(path);
}

const generate: CommandSpec = {
  name: 'generate',
  summary: 'write a new Ed25519 key pair to a file (mode 0600)',
  description:
    'Writes a new Ed25519 identity (public and secret key) to FILE with mode 0600 and prints the\n' +
    'public key and its fingerprint. Refuses to overwrite an existing file. Give the public key to\n' +
    'the aggregator operator (site keys go on the allowlist) or to the sites (they pin the aggregator key).',
  flags: {
    out: { type: 'string', help: 'file to create', required: true, arg: 'FILE' },
    json: { type: 'boolean', help: 'print machine-readable JSON' },
  },
  examples: ['fedistill keys generate --out site-a.key', 'fedistill keys generate --out aggregator.key --json'],
  run(args, io) {
    const out = String(args.flags.out);
    const identity = generateIdentity();
    writeIdentityFile(out, identity);
    const publicKey = encodePublicKey(identity.publicKey);
    const fp = fingerprint(identity.publicKey);
    if (args.flags.json) io.out(JSON.stringify({ file: out, public_key: publicKey, fingerprint: fp }));
    else io.out(`wrote ${out} (mode 0600)\npublic key:  ${publicKey}\nfingerprint: ${fp}`);
  },
};

const show: CommandSpec = {
  name: 'show',
  summary: 'print the public key and fingerprint of a key file',
  positionals: [{ name: 'file', help: 'a key file written by "keys generate"', required: true }],
  flags: { json: { type: 'boolean', help: 'print machine-readable JSON' } },
  examples: ['fedistill keys show site-a.key'],
  run(args, io) {
    const file = args.positionals[0]!;
    const identity = readKeyFile(file);
    const publicKey = encodePublicKey(identity.publicKey);
    const fp = fingerprint(identity.publicKey);
    if (args.flags.json) io.out(JSON.stringify({ file, public_key: publicKey, fingerprint: fp }));
    else io.out(`public key:  ${publicKey}\nfingerprint: ${fp}`);
  },
};

export const keysCommand: CommandSpec = {
  name: 'keys',
  summary: 'create and inspect Ed25519 identities',
  examples: ['fedistill keys generate --out site-a.key', 'fedistill keys show site-a.key --json'],
  subcommands: [generate, show],
};
