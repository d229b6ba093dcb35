// The one catalogue of channel and protocol errors: stable string codes, websocket close codes, meanings.
// docs/errors.md mirrors this table; test/unit/protocols/error-catalogue.test.ts keeps them in sync.
import { FedistillError } from '../shared/util/errors.ts';

/** One catalogue entry. `close` is the websocket close code sent when this error ends a session (null: it does not). */
export interface ErrorEntry {
  readonly close: number | null;
  readonly meaning: string;
}

/**
 * Every code the channel can produce. Close codes are in the private range 4000–4999 except
 * E_FRAME_TOO_LARGE, which `ws` enforces before a byte is buffered and closes with RFC 6455's 1009.
 */
export const CHANNEL_ERRORS = {
  E_PROTOCOL: { close: 4000, meaning: 'a message arrived that is not allowed in this state or from this side (e.g. a second hello, a site sending consensus); a reply to nothing requested is an unsolicited strike instead' },
  E_MSG_DECODE: { close: 4001, meaning: 'a frame decrypted but its payload is not valid msgpack of the allowed types' },
  E_UNSUPPORTED_VERSION: { close: 4002, meaning: 'the peer speaks another protocol major version; upgrade one side' },
  E_MSG_INVALID: { close: 4003, meaning: 'a message failed its validator (unknown type, missing or mistyped field, bad length)' },
  E_MSG_FORBIDDEN_KEY: { close: 4004, meaning: 'a message carried a __proto__, constructor or prototype key' },
  E_MSG_TOO_LARGE: { close: 4005, meaning: 'a message is larger than its type allows (see protocols/limits.ts)' },
  E_MSG_TOO_COMPLEX: { close: 4006, meaning: 'a message holds more msgpack values, maps and arrays, map entries or binaries than any protocol message needs (FIELD_LIMITS in protocols/limits.ts); refused before decoding' },
  E_FRAME_TOO_LARGE: { close: 1009, meaning: 'a frame is larger than the connection\'s maxFrameBytes (default 16 MiB)' },
  E_HANDSHAKE_TIMEOUT: { close: 4010, meaning: 'the handshake did not complete within handshakeTimeoutMs, or its first message did not arrive within helloTimeoutMs; on the aggregator, also a connection not upgraded to a websocket within handshakeTimeoutMs of connecting (closed without a close code)' },
  E_HANDSHAKE_FAILED: { close: 4011, meaning: 'a handshake message was malformed or out of order, or key agreement failed' },
  E_UNKNOWN_SITE_KEY: { close: 4012, meaning: 'the site\'s public key is not on the aggregator\'s allowlist' },
  E_SERVER_KEY_MISMATCH: { close: 4013, meaning: 'the aggregator\'s key differs from the key the site pinned' },
  E_HANDSHAKE_REPLAY: { close: 4014, meaning: 'a handshake timestamp is outside the allowed clock skew, or its nonce was seen before' },
  E_RATE_LIMITED: { close: 4015, meaning: 'too many handshakes from one address per second, or too many in progress from one address (maxPendingHandshakesPerAddress) or in all (maxPendingHandshakes)' },
  E_BAD_SIGNATURE: { close: 4016, meaning: 'a handshake transcript signature did not verify' },
  E_KEY_CONFIRMATION: { close: 4017, meaning: 'the peer\'s key-confirmation tag did not match: the two sides derived different keys' },
  E_FRAME_AUTH: { close: 4020, meaning: 'a frame failed authentication (altered, truncated, or encrypted under another key)' },
  E_FRAME_REPLAYED: { close: 4021, meaning: 'a frame repeated a counter already received' },
  E_FRAME_OUT_OF_ORDER: { close: 4022, meaning: 'a frame skipped ahead of the expected counter (reordered or dropped frames)' },
  E_FRAME_MALFORMED: { close: 4023, meaning: 'a frame is shorter than its header and tag, or has an unknown frame kind' },
  E_IDLE_TIMEOUT: { close: 4030, meaning: 'nothing was received from the peer for idleTimeoutMs' },
  E_TOO_MANY_IN_FLIGHT: { close: 4031, meaning: 'more unanswered requests than maxInFlight (locally: the request is refused; from the peer: closed)' },
  E_SESSION_REPLACED: { close: 4032, meaning: 'the same site key opened a newer session; the older one is closed' },
  E_SERVER_CLOSING: { close: 4033, meaning: 'the aggregator is shutting down' },
  E_INBOUND_RATE_EXCEEDED: { close: 4034, meaning: 'the peer sent more bytes or messages per second than its inbound budget allows (inboundBytesPerSecond / inboundBurstBytes, inboundMessagesPerSecond / inboundBurstMessages); checked before decrypting' },
  E_UNSOLICITED_MESSAGES: { close: 4035, meaning: 'the peer sent more than maxUnsolicitedMessages messages it had no reason to send (replies to requests never made or already answered, pongs to no ping)' },
  E_PEER_NOT_READING: { close: 4036, meaning: 'the peer stopped reading: sending more would pass maxSendBufferBytes of data queued for it and not yet read (default four max-size frames); the session is closed instead of buffering without bound' },
  E_TOO_MANY_CONNECTIONS: { close: null, meaning: 'the aggregator already had maxConnectionsPerAddress open connections from this address (IPv6: its /64), or maxConnections in all; the new TCP connection was closed before any HTTP' },
  E_REQUEST_TIMEOUT: { close: null, meaning: 'no reply arrived for a request within its timeout' },
  E_SESSION_CLOSED: { close: null, meaning: 'a message was sent or a request was pending on a session that has closed' },
  E_NOT_CONNECTED: { close: null, meaning: 'the site client has no live session to send on (it may be reconnecting)' },
  E_KEY_FILE_EXISTS: { close: null, meaning: 'keys generate refuses to overwrite an existing key file' },
  E_KEY_FILE_INVALID: { close: null, meaning: 'a key file is missing, unreadable or not a fedistill Ed25519 key file' },
  E_KEY_FILE_MODE: { close: null, meaning: 'a secret key file is readable by group or others; chmod 600 it' },
  E_ALLOWLIST_INVALID: { close: null, meaning: 'the allowlist file is not a map of Ed25519 public keys to unique site names' },
  E_TLS_CONFIG: { close: null, meaning: 'a TLS certificate, key or CA file could not be read (missing, not a regular file, over 1 MiB)' },
} as const satisfies Record<string, ErrorEntry>;

export type ChannelErrorCode = keyof typeof CHANNEL_ERRORS;

/** The catalogue code a close code stands for, so a peer can name why it was closed. */
export function codeForClose(close: number): ChannelErrorCode | undefined {
  for (const [code, entry] of Object.entries(CHANNEL_ERRORS)) if (entry.close === close) return code as ChannelErrorCode;
  return undefined;
}

/**
 * A channel or protocol failure: a catalogue code and, when it ends a session, its close code.
 * Thrown by validators, the codec, the handshake and the frame layer; sessions turn it into a close.
 */
export class ChannelError extends FedistillError {
  readonly closeCode: number | null;
  constructor(code: ChannelErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'ChannelError';
    this.closeCode = CHANNEL_ERRORS[code].close;
  }
}
