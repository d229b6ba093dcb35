// The handshake transcript and what is derived from it: signed bytes, session keys, confirmation tags.
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { PROTOCOL_LABEL } from '../../protocols/version.ts';
import type { ClientHello, ServerHello } from '../../protocols/messages.ts';

/** Keys of one session, one per direction, plus the transcript hash that binds them. */
export interface SessionKeys {
  /** Encrypts site → aggregator frames. */
  clientToServer: Buffer;
  /** Encrypts aggregator → site frames. */
  serverToClient: Buffer;
  confirmClient: Buffer;
  confirmServer: Buffer;
  transcriptHash: Buffer;
}

const enc = new TextEncoder();

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/**
 * The transcript is a fixed byte layout (never msgpack, whose encoding is not canonical), so
 * a second implementation reproduces it exactly. See protocols/SPEC.md §3 for the layout.
 */
export class Transcript {
  private readonly parts: Buffer[] = [Buffer.from(`${PROTOCOL_LABEL} handshake`)];

  addClientHello(m: ClientHello): void {
    this.parts.push(u16(m.v[0]), u16(m.v[1]), Buffer.from(m.ephemeral), Buffer.from(m.nonce), u64(m.timestamp));
  }

  /** Server hello without its signature: the part the server signs. */
  addServerHelloBody(m: Omit<ServerHello, 'signature'>): void {
    this.parts.push(u16(m.v[0]), u16(m.v[1]), Buffer.from(m.ephemeral), Buffer.from(m.nonce), u64(m.timestamp), Buffer.from(m.identity));
  }

  addBytes(b: Uint8Array): void {
    this.parts.push(Buffer.from(b));
  }

  hash(): Buffer {
    const h = createHash('sha256');
    for (const p of this.parts) h.update(p);
    return h.digest();
  }

  /** The bytes a side signs: a role label (so a signature cannot be reflected) ‖ SHA-256(transcript). */
  toSign(role: 'server' | 'client'): Uint8Array {
    return Buffer.concat([Buffer.from(`${PROTOCOL_LABEL} ${role}-signature\0`), this.hash()]);
  }
}

/** HKDF-SHA256(shared secret, salt = transcript hash) → four 32-byte keys. */
export function deriveSessionKeys(sharedSecret: Uint8Array, transcriptHash: Buffer): SessionKeys {
  const okm = Buffer.from(hkdfSync('sha256', sharedSecret, transcriptHash, enc.encode(`${PROTOCOL_LABEL} session keys`), 128));
  return {
    clientToServer: okm.subarray(0, 32),
    serverToClient: okm.subarray(32, 64),
    confirmClient: okm.subarray(64, 96),
    confirmServer: okm.subarray(96, 128),
    transcriptHash,
  };
}

/** Key confirmation tag: HMAC-SHA256(confirm key, label ‖ transcript hash ‖ extra). */
export function confirmationTag(key: Buffer, role: 'client' | 'server', transcriptHash: Buffer, extra = ''): Buffer {
  return createHmac('sha256', key).update(`${PROTOCOL_LABEL} ${role} finished\0`).update(transcriptHash).update(extra).digest();
}

/** Constant-time comparison of two tags. */
export function tagsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
