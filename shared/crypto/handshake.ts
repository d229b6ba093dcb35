// The authenticated key exchange as two pure state machines (no sockets): site side and aggregator side.
import { randomBytes } from 'node:crypto';
import { ChannelError } from '../../protocols/error-catalogue.ts';
import type { ClientAuth, ClientHello, ServerFinished, ServerHello } from '../../protocols/messages.ts';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR, PROTOCOL_VERSION } from '../../protocols/version.ts';
import { fingerprint, type Identity } from './identity.ts';
import type { NonceCache } from './nonce-cache.ts';
import { nodePrimitives, type AsymmetricPrimitives, type EphemeralKeyPair } from './primitives.ts';
import { Transcript, confirmationTag, deriveSessionKeys, tagsEqual, type SessionKeys } from './transcript.ts';

/** What a completed handshake hands to the session layer. */
export interface HandshakeResult {
  keys: SessionKeys;
  /** The other side's long-term public key (authenticated). */
  peerPublicKey: Uint8Array;
  /** The site's name from the aggregator's allowlist. */
  siteName: string;
  /** Lower of the two minor versions: what both sides understand. */
  minor: number;
}

function checkClock(timestamp: number, now: number, skewMs: number, who: string): void {
  if (Math.abs(now - timestamp) > skewMs) {
    // Short, advice first: a close reason carries 123 bytes, and the peer reads this one.
    const ahead = Math.round((timestamp - now) / 1000);
    throw new ChannelError('E_HANDSHAKE_REPLAY', `${who} clock is ${Math.abs(ahead)} s ${ahead > 0 ? 'ahead of' : 'behind'} ours (allowed ±${skewMs / 1000} s): set clocks right (NTP), or a replayed handshake`);
  }
}

export interface ClientHandshakeOptions {
  identity: Identity;
  /** The aggregator key this site pinned; any other key is refused (E_SERVER_KEY_MISMATCH). */
  serverPublicKey: Uint8Array;
  primitives?: AsymmetricPrimitives;
  maxClockSkewMs?: number;
  now?: () => number;
}

/** Site side: hello → (server hello) → auth → (server finished) → keys. */
export class ClientHandshake {
  private readonly transcript = new Transcript();
  private readonly ephemeral: EphemeralKeyPair;
  private readonly primitives: AsymmetricPrimitives;
  private keys: SessionKeys | undefined;
  private serverMinor = 0;
  private step: 'new' | 'sent_hello' | 'sent_auth' | 'done' = 'new';

  constructor(private readonly opts: ClientHandshakeOptions) {
    this.primitives = opts.primitives ?? nodePrimitives;
    this.ephemeral = this.primitives.ephemeralKeyPair();
  }

  hello(): ClientHello {
    if (this.step !== 'new') throw new ChannelError('E_HANDSHAKE_FAILED', 'hello() called twice');
    const m: ClientHello = { type: 'hs.client_hello', v: PROTOCOL_VERSION, ephemeral: this.ephemeral.publicKey, nonce: new Uint8Array(randomBytes(16)), timestamp: (this.opts.now ?? Date.now)() };
    this.transcript.addClientHello(m);
    this.step = 'sent_hello';
    return m;
  }

  onServerHello(m: ServerHello): ClientAuth {
    if (this.step !== 'sent_hello') throw new ChannelError('E_HANDSHAKE_FAILED', `unexpected server hello in step ${this.step}`);
    if (!tagsEqual(m.identity, this.opts.serverPublicKey)) {
      throw new ChannelError('E_SERVER_KEY_MISMATCH', `aggregator presented key ${fingerprint(m.identity)} but this site pinned ${fingerprint(this.opts.serverPublicKey)}; check server.public_key in site.yaml against \`fedistill keys show\` of the aggregator's key, or someone is in the middle`);
    }
    checkClock(m.timestamp, (this.opts.now ?? Date.now)(), this.opts.maxClockSkewMs ?? 300_000, 'aggregator');
    this.transcript.addServerHelloBody(m);
    if (!this.primitives.verify(this.transcript.toSign('server'), m.signature, m.identity)) {
      throw new ChannelError('E_BAD_SIGNATURE', 'aggregator\'s transcript signature does not verify');
    }
    this.transcript.addBytes(m.signature);
    const shared = this.ephemeral.agree(m.ephemeral);
    if (!shared) throw new ChannelError('E_HANDSHAKE_FAILED', 'aggregator sent a low-order ephemeral key');
    this.transcript.addBytes(this.opts.identity.publicKey);
    const signature = this.primitives.sign(this.transcript.toSign('client'), this.opts.identity.secretKey);
    this.transcript.addBytes(signature);
    this.keys = deriveSessionKeys(shared, this.transcript.hash());
    shared.fill(0);
    this.serverMinor = m.v[1];
    this.step = 'sent_auth';
    return { type: 'hs.client_auth', v: PROTOCOL_VERSION, identity: this.opts.identity.publicKey, signature, confirm: confirmationTag(this.keys.confirmClient, 'client', this.keys.transcriptHash) };
  }

  onServerFinished(m: ServerFinished): HandshakeResult {
    if (this.step !== 'sent_auth' || !this.keys) throw new ChannelError('E_HANDSHAKE_FAILED', `unexpected server finished in step ${this.step}`);
    if (!tagsEqual(m.confirm, confirmationTag(this.keys.confirmServer, 'server', this.keys.transcriptHash, m.siteName))) {
      throw new ChannelError('E_KEY_CONFIRMATION', 'aggregator\'s key confirmation does not match ours');
    }
    this.step = 'done';
    return { keys: this.keys, peerPublicKey: this.opts.serverPublicKey, siteName: m.siteName, minor: Math.min(PROTOCOL_MINOR, this.serverMinor) };
  }
}

export interface ServerHandshakeOptions {
  identity: Identity;
  /** Site name for an allowlisted key; undefined refuses it (E_UNKNOWN_SITE_KEY). */
  siteNameOf: (publicKey: Uint8Array) => string | undefined;
  nonceCache: NonceCache;
  primitives?: AsymmetricPrimitives;
  maxClockSkewMs?: number;
  now?: () => number;
}

/** Aggregator side: (client hello) → server hello → (client auth) → finished + keys. */
export class ServerHandshake {
  private readonly transcript = new Transcript();
  private readonly primitives: AsymmetricPrimitives;
  private ephemeral: EphemeralKeyPair | undefined;
  private clientEphemeral: Uint8Array | undefined;
  private clientMinor = 0;
  private step: 'new' | 'sent_hello' | 'done' = 'new';

  constructor(private readonly opts: ServerHandshakeOptions) {
    this.primitives = opts.primitives ?? nodePrimitives;
  }

  onClientHello(m: ClientHello): ServerHello {
    if (this.step !== 'new') throw new ChannelError('E_HANDSHAKE_FAILED', `unexpected client hello in step ${this.step}`);
    if (m.v[0] !== PROTOCOL_MAJOR) throw new ChannelError('E_UNSUPPORTED_VERSION', `site speaks v${m.v[0]}; aggregator speaks v${PROTOCOL_MAJOR}`);
    const now = (this.opts.now ?? Date.now)();
    const skew = this.opts.maxClockSkewMs ?? 300_000;
    checkClock(m.timestamp, now, skew, 'site');
    if (!this.opts.nonceCache.remember(m.nonce, now)) throw new ChannelError('E_HANDSHAKE_REPLAY', 'this client hello was seen before: a replayed handshake');
    this.transcript.addClientHello(m);
    this.clientEphemeral = m.ephemeral;
    this.clientMinor = m.v[1];
    this.ephemeral = this.primitives.ephemeralKeyPair();
    const body = { type: 'hs.server_hello' as const, v: PROTOCOL_VERSION, ephemeral: this.ephemeral.publicKey, nonce: new Uint8Array(randomBytes(16)), timestamp: now, identity: this.opts.identity.publicKey };
    this.transcript.addServerHelloBody(body);
    const signature = this.primitives.sign(this.transcript.toSign('server'), this.opts.identity.secretKey);
    this.transcript.addBytes(signature);
    this.step = 'sent_hello';
    return { ...body, signature };
  }

  onClientAuth(m: ClientAuth): { finished: ServerFinished; result: HandshakeResult } {
    if (this.step !== 'sent_hello' || !this.ephemeral || !this.clientEphemeral) throw new ChannelError('E_HANDSHAKE_FAILED', `unexpected client auth in step ${this.step}`);
    // The signature is checked before the allowlist: a peer that cannot sign for a key learns
    // nothing about whether that key is allowlisted (both fail as a bad signature).
    this.transcript.addBytes(m.identity);
    if (!this.primitives.verify(this.transcript.toSign('client'), m.signature, m.identity)) {
      throw new ChannelError('E_BAD_SIGNATURE', `site key ${fingerprint(m.identity)}: the transcript signature does not verify`);
    }
    const siteName = this.opts.siteNameOf(m.identity);
    if (siteName === undefined) throw new ChannelError('E_UNKNOWN_SITE_KEY', `site key ${fingerprint(m.identity)} is not on the allowlist; add it with its site name`);
    this.transcript.addBytes(m.signature);
    const shared = this.ephemeral.agree(this.clientEphemeral);
    if (!shared) throw new ChannelError('E_HANDSHAKE_FAILED', 'site sent a low-order ephemeral key');
    const keys = deriveSessionKeys(shared, this.transcript.hash());
    shared.fill(0);
    if (!tagsEqual(m.confirm, confirmationTag(keys.confirmClient, 'client', keys.transcriptHash))) {
      throw new ChannelError('E_KEY_CONFIRMATION', `site ${siteName}'s key confirmation does not match ours`);
    }
    this.step = 'done';
    return {
      finished: { type: 'hs.server_finished', v: PROTOCOL_VERSION, confirm: confirmationTag(keys.confirmServer, 'server', keys.transcriptHash, siteName), siteName },
      result: { keys, peerPublicKey: m.identity, siteName, minor: Math.min(PROTOCOL_MINOR, this.clientMinor) },
    };
  }
}
