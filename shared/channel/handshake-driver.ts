// Runs the handshake state machines over a FrameTransport, with a deadline; failures close with their code.
import { ChannelError, codeForClose, type ChannelErrorCode } from '../../protocols/error-catalogue.ts';
import { decodeMessage, encodeMessage } from '../../protocols/codec.ts';
import { MESSAGE_SIZE_LIMITS } from '../../protocols/limits.ts';
import type { HandshakeMessage } from '../../protocols/messages.ts';
import { validateHandshakeMessage } from '../../protocols/validators.ts';
import { ClientHandshake, ServerHandshake, type ClientHandshakeOptions, type HandshakeResult, type ServerHandshakeOptions } from '../crypto/handshake.ts';
import type { FrameTransport } from './transport.ts';

/** Frames kept between the last handshake message and the session (DrivenHandshake.earlyFrames). */
const MAX_EARLY_FRAMES = 256;

const MAX_HANDSHAKE_FRAME = Math.max(...Object.entries(MESSAGE_SIZE_LIMITS).filter(([t]) => t.startsWith('hs.')).map(([, n]) => n));

function readHandshake(frame: Uint8Array): HandshakeMessage {
  if (frame.length > MAX_HANDSHAKE_FRAME) throw new ChannelError('E_HANDSHAKE_FAILED', `handshake frame of ${frame.length} bytes; at most ${MAX_HANDSHAKE_FRAME}`);
  try {
    return validateHandshakeMessage(decodeMessage(frame));
  } catch (e) {
    if (e instanceof ChannelError && (e.code === 'E_UNSUPPORTED_VERSION' || e.code === 'E_MSG_FORBIDDEN_KEY')) throw e;
    throw new ChannelError('E_HANDSHAKE_FAILED', `bad handshake message: ${(e as Error).message}`);
  }
}

/**
 * A completed handshake as the driver hands it on. `earlyFrames` collects the frames that arrive
 * after the last handshake message and before a SecureSession takes the transport over: a peer may
 * send its first session frame right behind its last handshake message (the aggregator does, when
 * its application sends on `session`), and `ws` delivers both from one TCP read, synchronously.
 * Dropping them would lose that message and leave the counters apart (the next frame: 4022).
 */
export interface DrivenHandshake extends HandshakeResult {
  earlyFrames: Uint8Array[];
}

/**
 * The peer closed the connection mid-handshake. `code` is the catalogue code its close code names,
 * for logs only: no session key vouches for a close frame, so whoever answered at the peer's
 * address (or sits on a ws:// path) could have sent it. Nothing permanent may follow from it.
 */
export class PeerClosedError extends ChannelError {
  constructor(readonly peerCloseCode: number, reason: string) {
    const known = codeForClose(peerCloseCode) as ChannelErrorCode | undefined;
    super(known ?? 'E_HANDSHAKE_FAILED', `peer closed the connection during the handshake with code ${peerCloseCode}${reason ? ` (${reason})` : ''}; a close code is not authenticated`);
    this.name = 'PeerClosedError';
  }
}

/**
 * Drives one side: `step` answers each incoming message with the reply to send (if any) and
 * returns the result when the handshake is complete. `onComplete` runs at that moment,
 * synchronously, before any frame read behind the last handshake message is handled.
 */
function drive(
  transport: FrameTransport,
  timeoutMs: number,
  first: HandshakeMessage | undefined,
  step: (m: HandshakeMessage) => { send?: HandshakeMessage; done?: HandshakeResult },
  extras: { firstFrame?: { timeoutMs: number; what: string }; onComplete?: () => void } = {},
): Promise<DrivenHandshake> {
  const { firstFrame, onComplete } = extras;
  return new Promise<DrivenHandshake>((resolve, reject) => {
    let settled = false;
    const fail = (e: ChannelError, close: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(firstTimer);
      if (close) transport.close(e.closeCode ?? 4000, `${e.code}: ${e.message}`);
      transport.onFrame(() => {});
      reject(e);
    };
    const timer = setTimeout(() => fail(new ChannelError('E_HANDSHAKE_TIMEOUT', `handshake did not complete within ${timeoutMs} ms`), true), timeoutMs);
    timer.unref?.();
    // a peer that says nothing is let go early: until then it holds a pending-handshake slot
    const firstTimer = firstFrame && firstFrame.timeoutMs < timeoutMs
      ? setTimeout(() => fail(new ChannelError('E_HANDSHAKE_TIMEOUT', `no ${firstFrame.what} within ${firstFrame.timeoutMs} ms`), true), firstFrame.timeoutMs)
      : undefined;
    firstTimer?.unref?.();
    transport.onClose((code, reason) => fail(new PeerClosedError(code, reason), false));
    transport.onFrame((frame) => {
      if (settled) return;
      clearTimeout(firstTimer);
      try {
        const out = step(readHandshake(frame));
        if (out.send) transport.send(encodeMessage(out.send));
        if (out.done) {
          settled = true;
          clearTimeout(timer);
          onComplete?.();
          // kept for the session (see DrivenHandshake): what one read delivers, and on the aggregator
          // within PRE_AUTH_MAX_BYTES, which counts until the session exists. The cap only matters to a
          // caller that never hands the transport to a session (tests, benchmarks); a frame past it is
          // dropped, and a session would then close on the counter gap (4022).
          const earlyFrames: Uint8Array[] = [];
          transport.onFrame((f) => { if (earlyFrames.length < MAX_EARLY_FRAMES) earlyFrames.push(f); });
          resolve({ ...out.done, earlyFrames });
        }
      } catch (e) {
        fail(e instanceof ChannelError ? e : new ChannelError('E_HANDSHAKE_FAILED', (e as Error)?.message ?? String(e)), true);
      }
    });
    if (first) transport.send(encodeMessage(first));
  });
}

/**
 * Site side of the handshake over `transport`. `onAuthenticated`: called the moment the aggregator
 * has proved its pinned key (its finished message verified), before anything read after it is handled.
 */
export function runClientHandshake(transport: FrameTransport, opts: ClientHandshakeOptions & { timeoutMs: number; onAuthenticated?: () => void }): Promise<DrivenHandshake> {
  const hs = new ClientHandshake(opts);
  return drive(transport, opts.timeoutMs, hs.hello(), (m) => {
    if (m.type === 'hs.server_hello') return { send: hs.onServerHello(m) };
    if (m.type === 'hs.server_finished') return { done: hs.onServerFinished(m) };
    throw new ChannelError('E_HANDSHAKE_FAILED', `site received ${m.type}, which only sites send`);
  }, { onComplete: opts.onAuthenticated });
}

/**
 * Aggregator side of the handshake over `transport`. `helloTimeoutMs`: the site's first message
 * must arrive within this (shorter than `timeoutMs`, which bounds the whole handshake).
 */
export function runServerHandshake(transport: FrameTransport, opts: ServerHandshakeOptions & { timeoutMs: number; helloTimeoutMs?: number }): Promise<DrivenHandshake> {
  const hs = new ServerHandshake(opts);
  const firstFrame = opts.helloTimeoutMs === undefined ? undefined : { timeoutMs: opts.helloTimeoutMs, what: 'hs.client_hello' };
  return drive(transport, opts.timeoutMs, undefined, (m) => {
    if (m.type === 'hs.client_hello') return { send: hs.onClientHello(m) };
    if (m.type === 'hs.client_auth') {
      const { finished, result } = hs.onClientAuth(m);
      return { send: finished, done: result };
    }
    throw new ChannelError('E_HANDSHAKE_FAILED', `aggregator received ${m.type}, which only the aggregator sends`);
  }, { firstFrame });
}
