// Size and rate limits: per connection (frames, in-flight requests, inbound budgets) and per message type (bytes, array lengths).

/** Per-connection limits; every inbound path is bounded by one of these. Defaults in DEFAULT_CONNECTION_LIMITS. */
export interface ConnectionLimits {
  /** Largest encrypted frame accepted (bytes). Default 16 MiB. */
  maxFrameBytes: number;
  /** Most unanswered requests per direction. Default 64. */
  maxInFlight: number;
  /** A handshake must finish within this; on the aggregator, also the deadline from TCP accept to the websocket upgrade. Default 10 s. */
  handshakeTimeoutMs: number;
  /** Most handshakes in progress at once, over all addresses (more are refused with E_RATE_LIMITED). Default 2,048. Aggregator only. */
  maxPendingHandshakes: number;
  /**
   * Most handshakes in progress at once from one address (an IPv6 address counts as its /64), so
   * that a few addresses cannot fill maxPendingHandshakes; more are refused with E_RATE_LIMITED.
   * Default 8; Infinity turns it off. Aggregator only.
   */
  maxPendingHandshakesPerAddress: number;
  /**
   * The first handshake message (the site's hs.client_hello) must arrive within this after the
   * websocket opens, or the connection is closed with E_HANDSHAKE_TIMEOUT: a silent peer holds a
   * pending-handshake slot for this long, not for all of handshakeTimeoutMs. Default 2 s. Aggregator only.
   */
  helloTimeoutMs: number;
  /**
   * Most open TCP connections from one address (IPv6: its /64), counted from accept to close,
   * sessions included; past it a new connection is closed at once, before any HTTP. Default 64;
   * Infinity turns it off. Aggregator only (its own listener).
   */
  maxConnectionsPerAddress: number;
  /** Most open TCP connections over all addresses, counted the same way. Default 4,096; Infinity turns it off. Aggregator only. */
  maxConnections: number;
  /** A ping is sent after this long without sending. Default 15 s. */
  heartbeatIntervalMs: number;
  /** The session closes (E_IDLE_TIMEOUT) after this long without receiving anything. Default 45 s. */
  idleTimeoutMs: number;
  /** Accepted difference between the peer's handshake timestamp and ours. Default 5 min. */
  maxClockSkewMs: number;
  /** Default timeout of request() when none is given. Default 60 s. */
  requestTimeoutMs: number;
  // Inbound budgets (shared/channel/inbound-budget.ts): what one authenticated peer may make this side
  // decrypt and decode. Checked on each frame before it is decrypted; exceeding one closes that peer's
  // session with E_INBOUND_RATE_EXCEEDED (4034). The aggregator keeps each site's budget across its
  // reconnects. Infinity disables a rate (benchmarks).
  /** Sustained inbound bytes per second (encrypted frames). Default 32 MiB/s. */
  inboundBytesPerSecond: number;
  /** Inbound bytes a peer may send at once; at least one frame of maxFrameBytes. Default four max-size frames: 4 × (maxFrameBytes + 25) = 64 MiB + 100 B, and it follows maxFrameBytes when only that is set. */
  inboundBurstBytes: number;
  /** Sustained inbound messages (frames) per second. Default 500/s. */
  inboundMessagesPerSecond: number;
  /** Inbound messages a peer may send at once above the sustained rate. Default 2,000. */
  inboundBurstMessages: number;
  /**
   * Messages the peer had no reason to send (a reply to a request never made or already answered,
   * a pong to no ping) tolerated before its session is closed with E_UNSOLICITED_MESSAGES (4035).
   * Default 16. A late reply to a request that timed out is not counted.
   */
  maxUnsolicitedMessages: number;
  /** One unsolicited message is forgiven per this many ms, so rare legitimate ones never add up over a long run. Default 60 s. */
  unsolicitedForgiveMs: number;
  /**
   * Most bytes this side keeps queued for a peer that does not read them (the transport's send
   * buffer). A send that would pass it closes that session with E_PEER_NOT_READING (4036) and
   * throws E_SESSION_CLOSED, so a peer that stops reading (and keeps pinging, so it never idles
   * out) cannot make this side buffer every later message. At least one frame of maxFrameBytes.
   * Default four max-size frames: 4 × (maxFrameBytes + 25) = 64 MiB + 100 B, following
   * maxFrameBytes when only that is set; Infinity turns it off.
   */
  maxSendBufferBytes: number;
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  maxInFlight: 64,
  handshakeTimeoutMs: 10_000,
  maxPendingHandshakes: 2048,
  maxPendingHandshakesPerAddress: 8,
  helloTimeoutMs: 2_000,
  maxConnectionsPerAddress: 64,
  maxConnections: 4_096,
  heartbeatIntervalMs: 15_000,
  idleTimeoutMs: 45_000,
  maxClockSkewMs: 5 * 60_000,
  requestTimeoutMs: 60_000,
  inboundBytesPerSecond: 32 * 1024 * 1024,
  // four frames of maxFrameBytes, each with its 25-byte header and tag (shared/crypto/frame-cipher.ts)
  inboundBurstBytes: 4 * (16 * 1024 * 1024 + 25),
  inboundMessagesPerSecond: 500,
  inboundBurstMessages: 2_000,
  maxUnsolicitedMessages: 16,
  unsolicitedForgiveMs: 60_000,
  // four frames of maxFrameBytes: a legitimate peer has at most two in flight (a consensus, then the next query)
  maxSendBufferBytes: 4 * (16 * 1024 * 1024 + 25),
});

/** Largest encoded size of each message type (bytes), before encryption; the frame limit also applies. */
export const MESSAGE_SIZE_LIMITS: Readonly<Record<string, number>> = Object.freeze({
  'hs.client_hello': 512,
  'hs.server_hello': 1024,
  'hs.client_auth': 1024,
  'hs.server_finished': 512,
  join: 64 * 1024,
  welcome: 256 * 1024,
  leave: 4 * 1024,
  query_request: 8 * 1024 * 1024,
  query_reply: 64 * 1024 * 1024,
  consensus: 64 * 1024 * 1024,
  metrics: 64 * 1024,
  heartbeat: 256,
  error: 4 * 1024,
  bye: 4 * 1024,
});

/** Array and string bounds the validators enforce. */
export const FIELD_LIMITS = Object.freeze({
  /** request ids, run ids, site names, dataset specs. */
  maxIdLength: 128,
  /** free-text reasons and error messages. */
  maxTextLength: 1024,
  /** public-set indices per query / consensus. */
  maxIndices: 4_000_000,
  /** classes (columns) per row. */
  maxClasses: 100_000,
  /** keys in a free-form map (params, metrics, stats, capabilities). */
  maxMapKeys: 256,
  /** nesting depth of free-form JSON values (privacy events, config). */
  maxJsonDepth: 16,
  /** teachers one site may declare in a reply (`stats.teachers`): its weight in the aggregate. */
  maxTeachers: 65_535,
  /** entries in any one decoded map: the codec refuses more before decoding (no typed message needs 1,024). */
  maxDecodedMapEntries: 1_024,
  // Shape budgets, checked on the raw bytes before msgpackr builds anything (protocols/msgpack-shape.ts),
  // so that no message costs much more to decode than a legitimate one of its size. Typed arrays travel
  // as one binary value each, so the largest legitimate messages hold a few dozen values. Measured here
  // (bench/hostile-decode.ts): a tiny map costs ~1 µs to decode, a map entry ~3 µs, a tiny typed array
  // ~2 µs, a small scalar or string ~0.05 µs. Exceeding one is E_MSG_TOO_COMPLEX.
  /** msgpack values of any kind (keys included) in one message: fits a privacy event with votes for maxClasses (100,000) classes. */
  maxDecodedItems: 131_072,
  /** maps and arrays in one message. */
  maxDecodedContainers: 4_096,
  /** map entries summed over every map in one message. */
  maxDecodedMapEntriesTotal: 4_096,
  /** binary values and typed arrays in one message (a consensus carries three). */
  maxDecodedBinaries: 64,
  /** nesting of decoded values (the top-level map is level 0). */
  maxDecodedDepth: 32,
  /**
   * bytes of string data (keys included) in one message: four times the largest mostly-text message
   * (a welcome at its 256 KiB limit). msgpackr decodes strings at ~8–13 ms/MiB, typed arrays at ~2.
   */
  maxDecodedStringBytes: 1024 * 1024,
});

/** Largest plaintext the codec accepts, whatever the frame limit: guards decode of absurd frames. */
export function messageSizeLimit(type: string, limits: Pick<ConnectionLimits, 'maxFrameBytes'>): number {
  // own keys only: a peer-chosen type such as "constructor" must not reach Object.prototype
  const own = Object.prototype.hasOwnProperty.call(MESSAGE_SIZE_LIMITS, type) ? MESSAGE_SIZE_LIMITS[type] : undefined;
  return Math.min(own ?? 4 * 1024, limits.maxFrameBytes);
}
