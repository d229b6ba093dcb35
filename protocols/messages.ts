// Messages v1: the TypeScript shape of everything the aggregator and sites say to each other.
// protocols/validators.ts checks each one at runtime; protocols/SPEC.md is the language-neutral text.

/** `[major, minor]`; see protocols/version.ts. */
export type ProtocolVersion = readonly [number, number];

/** What a site sends back for a query. */
export const REPLY_KINDS = ['votes', 'vote_histogram', 'soft_labels', 'logits'] as const;
export type ReplyKind = (typeof REPLY_KINDS)[number];

/** The handshake (plaintext, before any session key exists). Binary fields are raw bytes. */
export interface ClientHello {
  type: 'hs.client_hello'; v: ProtocolVersion;
  /** Client's ephemeral X25519 public key (32 bytes). */
  ephemeral: Uint8Array;
  /** 16 random bytes; the server refuses a nonce it has seen within the skew window. */
  nonce: Uint8Array;
  /** Client clock, ms since the epoch. */
  timestamp: number;
}
export interface ServerHello {
  type: 'hs.server_hello'; v: ProtocolVersion;
  ephemeral: Uint8Array; nonce: Uint8Array; timestamp: number;
  /** Aggregator's long-term Ed25519 public key (32 bytes); the site compares it with its pinned key. */
  identity: Uint8Array;
  /** Ed25519 signature of the transcript so far (64 bytes). */
  signature: Uint8Array;
}
export interface ClientAuth {
  type: 'hs.client_auth'; v: ProtocolVersion;
  /** Site's long-term Ed25519 public key; the aggregator looks it up in its allowlist. */
  identity: Uint8Array;
  signature: Uint8Array;
  /** HMAC proving the site derived the session keys (32 bytes). */
  confirm: Uint8Array;
}
export interface ServerFinished {
  type: 'hs.server_finished'; v: ProtocolVersion;
  confirm: Uint8Array;
  /** The site name the aggregator's allowlist gives this key. */
  siteName: string;
}
export type HandshakeMessage = ClientHello | ServerHello | ClientAuth | ServerFinished;

/** A site asks to take part in the run. Reply: Welcome (or Error). */
export interface Join {
  type: 'join'; v: ProtocolVersion; requestId: string;
  siteName: string;
  /** Reply kinds and features this site supports, e.g. ['votes', 'soft_labels']. */
  capabilities: string[];
  /** Public-set id → content hash the site holds, so the aggregator can check both sides see the same data. */
  datasetHashes: Record<string, string>;
}
/** The aggregator accepts a Join and hands over what the site needs. */
export interface Welcome {
  type: 'welcome'; v: ProtocolVersion; requestId: string;
  runId: string;
  /** Run configuration relevant to sites (strategy, reply kind, privacy policy...), JSON. */
  config: Record<string, unknown>;
}
/** The site leaves the run for good (Bye only ends a connection). */
export interface Leave { type: 'leave'; v: ProtocolVersion; reason?: string }

export interface QueryRequest {
  type: 'query_request'; v: ProtocolVersion; requestId: string;
  round: number;
  /** The public set by reference: never its data. */
  publicSet: { datasetSpec: string; hash: string };
  indices: Uint32Array;
  replyKind: ReplyKind;
  /** Local policy parameters (temperature, clip, numClasses, ...), finite numbers. */
  params: Record<string, number>;
}
export interface QueryReply {
  type: 'query_reply'; v: ProtocolVersion; requestId: string;
  round: number;
  replyKind: ReplyKind;
  /** Rows = answered samples (same order as the request's indices); cols = 1 for votes, numClasses otherwise. */
  rows: number; cols: number;
  /** votes: one class id per row (−1 = abstain, Int32Array); vote_histogram: rows×cols counts (Uint16Array or Int32Array). */
  votes?: Int32Array | Uint16Array;
  /** soft_labels or logits, rows×cols, row-major. */
  soft?: Float32Array;
  /** The site's own ledger entry for this release (privacy event JSON). */
  privacyEvent?: Record<string, unknown>;
  stats?: Record<string, number>;
}
export interface Consensus {
  type: 'consensus'; v: ProtocolVersion;
  round: number;
  indices: Uint32Array;
  rows: number; cols: number;
  /** One label per row, −1 = unanswered. */
  labels?: Int32Array;
  /** rows×cols soft labels. */
  soft?: Float32Array;
}
export interface Metrics { type: 'metrics'; v: ProtocolVersion; round: number; values: Record<string, number> }
export interface Heartbeat { type: 'heartbeat'; v: ProtocolVersion; kind: 'ping' | 'pong'; seq: number }
/** An error reply (with requestId) or notice (without). `code` is from docs/errors.md or the application's catalogue. */
export interface ErrorMessage { type: 'error'; v: ProtocolVersion; code: string; message: string; requestId?: string }
/** Polite end of a connection; the sender closes with 1000 after it. */
export interface Bye { type: 'bye'; v: ProtocolVersion; reason: string }

export type SessionMessage = Join | Welcome | Leave | QueryRequest | QueryReply | Consensus | Metrics | Heartbeat | ErrorMessage | Bye;
export type SessionMessageType = SessionMessage['type'];

/** Messages that expect a reply carrying the same requestId. */
export type RequestMessage = Join | QueryRequest;
/** Messages that answer a request. */
export type ReplyMessage = Welcome | QueryReply | ErrorMessage;

export const REQUEST_TYPES: ReadonlySet<string> = new Set(['join', 'query_request']);
export const REPLY_TYPES: ReadonlySet<string> = new Set(['welcome', 'query_reply', 'error']);

/** A message as the caller writes it: the version is filled in by the session. */
export type Outgoing<M extends { v: ProtocolVersion }> = M extends unknown ? Omit<M, 'v'> & { v?: ProtocolVersion } : never;
