// Ed25519 and X25519 behind one interface: tweetnacl (portable reference) or node:crypto (native, ~50× faster).
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';

/**
 * The asymmetric primitives the handshake needs. Both backends implement the same standard
 * algorithms on the same raw 32-byte keys and produce identical Ed25519 signatures (it is
 * deterministic); test/unit/crypto/primitives.test.ts checks that. We default to `node` because
 * tweetnacl's Ed25519 measured ~8 ms per sign and ~13 ms per verify on this machine — ~45 ms per
 * handshake, against a 5 ms budget — while node:crypto (OpenSSL) takes ~0.1–0.2 ms.
 */
export interface AsymmetricPrimitives {
  readonly name: 'node' | 'tweetnacl';
  /** Detached Ed25519 signature (64 bytes). `secretKey` is tweetnacl's 64-byte form: seed ‖ public key. */
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
  /** A fresh ephemeral X25519 key pair. */
  ephemeralKeyPair(): EphemeralKeyPair;
}

export interface EphemeralKeyPair {
  publicKey: Uint8Array;
  /** X25519 with the peer's ephemeral public key; null for a low-order (all-zero) result. */
  agree(peerPublic: Uint8Array): Uint8Array | null;
}

const b64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

export const tweetnaclPrimitives: AsymmetricPrimitives = {
  name: 'tweetnacl',
  sign: (message, secretKey) => nacl.sign.detached(message, secretKey),
  verify: (message, signature, publicKey) => nacl.sign.detached.verify(message, signature, publicKey),
  ephemeralKeyPair() {
    const kp = nacl.box.keyPair();
    return {
      publicKey: kp.publicKey,
      agree(peer) {
        const s = nacl.scalarMult(kp.secretKey, peer);
        kp.secretKey.fill(0);
        return isAllZero(s) ? null : s;
      },
    };
  },
};

// KeyObjects for long-term keys are cached: an aggregator signs one handshake per connection
const privateKeyCache = new WeakMap<Uint8Array, KeyObject>();
const publicKeyCache = new Map<string, KeyObject>();

function ed25519Private(secretKey: Uint8Array): KeyObject {
  let k = privateKeyCache.get(secretKey);
  if (!k) {
    k = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(secretKey.subarray(0, 32)), x: b64url(secretKey.subarray(32, 64)) }, format: 'jwk' });
    privateKeyCache.set(secretKey, k);
  }
  return k;
}

function ed25519Public(publicKey: Uint8Array): KeyObject {
  const id = b64url(publicKey);
  let k = publicKeyCache.get(id);
  if (!k) {
    k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: id }, format: 'jwk' });
    if (publicKeyCache.size > 10_000) publicKeyCache.clear();
    publicKeyCache.set(id, k);
  }
  return k;
}

export const nodePrimitives: AsymmetricPrimitives = {
  name: 'node',
  sign: (message, secretKey) => new Uint8Array(nodeSign(null, message, ed25519Private(secretKey))),
  verify(message, signature, publicKey) {
    try {
      return nodeVerify(null, message, ed25519Public(publicKey), signature);
    } catch {
      return false; // not a valid point: a failed verification, not a crash
    }
  },
  ephemeralKeyPair() {
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    return {
      publicKey: new Uint8Array(raw),
      agree(peer) {
        try {
          const peerKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(peer) }, format: 'jwk' });
          const s = new Uint8Array(diffieHellman({ privateKey, publicKey: peerKey }));
          return isAllZero(s) ? null : s;
        } catch {
          return null; // OpenSSL refuses low-order points
        }
      },
    };
  },
};

/** The backend by name; `node` unless a caller asks for the reference implementation. */
export function primitivesNamed(name: 'node' | 'tweetnacl' = 'node'): AsymmetricPrimitives {
  return name === 'tweetnacl' ? tweetnaclPrimitives : nodePrimitives;
}
