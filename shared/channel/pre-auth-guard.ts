// Bounds what an unauthenticated peer can make this side read and buffer, on either end, until its session opens.
import type { Socket } from 'node:net';
import { ChannelError } from '../../protocols/error-catalogue.ts';
import type { FrameTransport } from './transport.ts';

/**
 * Bytes a connection may receive before its handshake completes: two handshake messages (at most
 * 1 KiB each, protocols/limits.ts) plus websocket framing and pings. `ws` only knows the session's
 * frame limit (16 MiB by default), which it would otherwise buffer for anyone who connects (on the
 * aggregator), or for anyone answering at the aggregator's address (on a site).
 */
export const PRE_AUTH_MAX_BYTES = 16 * 1024;

/** The count on one socket; `stop()` ends it once the peer has authenticated. */
export interface PreAuthGuard {
  stop(): void;
}

/**
 * Counts what an unauthenticated peer sends on `socket`; past PRE_AUTH_MAX_BYTES the transport is
 * closed with 1009 (E_FRAME_TOO_LARGE) and the socket stops being read, so nothing more is
 * buffered; `onExceeded` then gets the error (a site fails its connection attempt with it).
 * Attach it after `ws` has attached its own reader (the aggregator's `connection` event, the
 * site's `open`): a chunk is then parsed before it is counted, so the last handshake message,
 * and `stop()` with it, comes before any session frames the same chunk carries.
 */
export function guardPreAuthBytes(socket: Socket, transport: FrameTransport, onExceeded?: (e: ChannelError) => void): PreAuthGuard {
  let received = 0;
  let stopped = false;
  const onData = (chunk: Buffer): void => {
    if (stopped) return;
    const before = received;
    received += chunk.length;
    if (received <= PRE_AUTH_MAX_BYTES) return;
    // still sending after the close frame (ws resumed the socket): cut it without waiting
    if (before > PRE_AUTH_MAX_BYTES) return void socket.destroy();
    const e = new ChannelError('E_FRAME_TOO_LARGE', `${received} bytes before the handshake completed; at most ${PRE_AUTH_MAX_BYTES}`);
    transport.close(e.closeCode!, `${e.code}: ${e.message}`);
    socket.pause();
    onExceeded?.(e);
  };
  socket.on('data', onData);
  return {
    stop: () => {
      // a flag as well as off(): a listener removed while the socket emits a chunk is still called for it
      stopped = true;
      socket.off('data', onData);
    },
  };
}
