// One audit-log entry: its kinds, the exact bytes that are hashed, the signature, and a strict reader for untrusted copies.
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';
import type { AuditProblem } from './audit-problem.ts';

/** What happened. Adding a kind is a format change (bump the export version). */
export const AUDIT_ENTRY_KINDS = [
  'run_started', 'site_joined', 'site_left', 'round_started', 'release', 'budget_refused',
  'round_result', 'config_change', 'run_finished',
] as const;
export type AuditEntryKind = (typeof AUDIT_ENTRY_KINDS)[number];

/** prev_hash of the first entry of a run. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller appends; the log fills in seq, time, chain and signature. */
export interface AuditEntryInput {
  kind: AuditEntryKind;
  runId: string;
  round?: number;
  site?: string;
  data: Record<string, unknown>;
}

/** The fields covered by the hash, in the form they are hashed (absent round/site are null). */
export interface AuditEntryBody {
  seq: number;
  at: string;
  kind: AuditEntryKind;
  runId: string;
  round: number | null;
  site: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
}

/** A stored entry: the body, its SHA-256 (hex) and the aggregator's Ed25519 signature of it (base64). */
export interface AuditEntry extends AuditEntryBody {
  hash: string;
  signature: string;
}

/** SHA-256 (lowercase hex) of the UTF-8 canonical JSON of exactly the eight body fields. */
export function hashAuditEntry(e: AuditEntryBody): string {
  const body = { seq: e.seq, at: e.at, kind: e.kind, runId: e.runId, round: e.round, site: e.site, data: e.data, prev_hash: e.prev_hash };
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}

// Ed25519 through node:crypto (native, ~100× faster than tweetnacl's pure JS here); the keys and
// signatures are the same bytes as tweetnacl's (RFC 8032), so either library verifies the other.
function publicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
}

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  // tweetnacl's 64-byte secret key is seed ‖ public key
  return createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(secretKey.subarray(0, 32)).toString('base64url'), x: Buffer.from(secretKey.subarray(32)).toString('base64url') },
    format: 'jwk',
  });
}

/** Ed25519 detached signature (base64) of `message` with a tweetnacl-layout secret key. */
export function signEd25519(message: Uint8Array, secretKey: Uint8Array): string {
  return sign(null, message, privateKeyObject(secretKey)).toString('base64');
}

/** Whether `signature` (base64, 64 bytes) signs `message` under `publicKey`; malformed input is simply false. */
export function verifyEd25519(message: Uint8Array, signature: string, publicKey: Uint8Array): boolean {
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64 || sig.toString('base64') !== signature) return false;
  try { return verify(null, message, publicKeyObject(publicKey), sig); } catch { return false; }
}

/** Ed25519 detached signature over the 32 raw bytes of the hex hash, base64. */
export function signAuditHash(hashHex: string, secretKey: Uint8Array): string {
  return signEd25519(Buffer.from(hashHex, 'hex'), secretKey);
}

/** Whether `signature` (base64) signs `hashHex` under `publicKey`; malformed input is simply false. */
export function verifyAuditSignature(hashHex: string, signature: string, publicKey: Uint8Array): boolean {
  if (!/^[0-9a-f]{64}$/.test(hashHex)) return false;
  return verifyEd25519(Buffer.from(hashHex, 'hex'), signature, publicKey);
}

/** A value as a message shows it: JSON, except numbers JSON cannot write (a literal like 1e999 parses to Infinity). */
function shown(v: unknown): string {
  return typeof v === 'number' && !Number.isFinite(v) ? `${v} (a number out of range)` : JSON.stringify(v);
}

const ENTRY_FIELDS = ['seq', 'at', 'kind', 'runId', 'round', 'site', 'data', 'prev_hash', 'hash', 'signature'];
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads an entry from untrusted JSON: every field present with its type, no extra fields (an
 * extra field would not be covered by the hash). Returns the entry or the problem at `index`.
 */
export function readAuditEntry(json: unknown, index: number): AuditEntry | AuditProblem {
  const fail = (message: string, seq: number | null = null): AuditProblem => ({ code: 'E_AUDIT_BAD_ENTRY', seq, index, message });
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return fail('entry is not a JSON object');
  const o = json as Record<string, unknown>;
  const seq = Number.isSafeInteger(o.seq) && (o.seq as number) >= 0 ? (o.seq as number) : null;
  for (const k of Object.keys(o)) if (!ENTRY_FIELDS.includes(k)) return fail(`unknown field "${k}" (fields: ${ENTRY_FIELDS.join(', ')})`, seq);
  for (const k of ENTRY_FIELDS) if (!Object.hasOwn(o, k)) return fail(`missing field "${k}"`, seq);
  if (seq === null) return fail(`seq must be an integer ≥ 0, got ${shown(o.seq)}`);
  if (typeof o.at !== 'string' || Number.isNaN(Date.parse(o.at))) return fail(`at must be an ISO time, got ${JSON.stringify(o.at)}`, seq);
  if (typeof o.kind !== 'string' || !(AUDIT_ENTRY_KINDS as readonly string[]).includes(o.kind)) {
    return fail(`unknown kind ${JSON.stringify(o.kind)}; expected one of ${AUDIT_ENTRY_KINDS.join(', ')}`, seq);
  }
  if (typeof o.runId !== 'string' || o.runId === '') return fail('runId must be a non-empty string', seq);
  if (o.round !== null && !(Number.isSafeInteger(o.round) && (o.round as number) >= 0)) return fail(`round must be null or an integer ≥ 0, got ${shown(o.round)}`, seq);
  if (o.site !== null && (typeof o.site !== 'string' || o.site === '')) return fail('site must be null or a non-empty string', seq);
  if (o.data === null || typeof o.data !== 'object' || Array.isArray(o.data)) return fail('data must be a JSON object', seq);
  if (typeof o.prev_hash !== 'string' || !HEX64.test(o.prev_hash)) return fail('prev_hash must be 64 lowercase hex digits', seq);
  if (typeof o.hash !== 'string' || !HEX64.test(o.hash)) return fail('hash must be 64 lowercase hex digits', seq);
  if (typeof o.signature !== 'string') return fail('signature must be a base64 string', seq);
  return o as unknown as AuditEntry;
}

/** True when `readAuditEntry` returned a problem rather than an entry. */
export function isAuditProblem(x: AuditEntry | AuditProblem): x is AuditProblem {
  return typeof (x as AuditProblem).code === 'string' && !('hash' in x);
}
