// The byte pipe a secure session runs over: websockets in deployments, an in-memory pair in simulations.

/**
 * A message-oriented, ordered, reliable pipe of binary frames. The secure session needs nothing
 * else, so the same server and client code runs over `ws` or over memory.
 */
export interface FrameTransport {
  /** Peer address, for logs and the per-address handshake limit. */
  readonly remoteAddress: string;
  readonly isOpen: boolean;
  send(frame: Uint8Array): void;
  /**
   * Closes with a close code (1000, 1009 or 4000–4999) and a short reason. Idempotent.
   * `stopReading`: the peer is flooding; read nothing more from it (the close frame is still sent,
   * and the connection is cut shortly after instead of waiting for the peer's close frame).
   */
  close(code: number, reason: string, opts?: { stopReading?: boolean }): void;
  /** Sets the one handler for incoming frames (the handshake hands it over to the session). */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Adds a handler called once when the pipe closes, from either side. */
  onClose(handler: (code: number, reason: string) => void): void;
  /** Bytes queued for sending but not yet written (backpressure hint). */
  bufferedBytes(): number;
  /**
   * Sets the one handler told of each control frame the peer sends outside the session (websocket
   * pings and pongs, with their size in bytes), so the session can charge them to the peer's
   * inbound budget. Transports without such frames (memory, message ports) leave it out.
   */
  onControlFrame?(handler: (byteLength: number) => void): void;
}

/** Websocket close reasons are limited to 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}
