// Runs the handshake state machines over a FrameTransport, with a deadline; failures close with their code.
import { ChannelError, codeForClose, type ChannelErrorCode } from '../../protocols/error-catalogue.ts';
import { decodeMessage, encodeMessage } from '../../protocols/codec.ts';
import { MESSAGE_SIZE_LIMITS } from '../../protocols/limits.ts';
import type { HandshakeMessage } from '../../protocols/messages.ts';
import { validateHandshakeMessage } from '../../protocols/validators.ts';
import { ClientHandshake, ServerHandshake, type ClientHandshakeOptions, type HandshakeResult, type ServerHandshakeOptions } from '../crypto/handshake.ts';
import type { FrameTransport } from './transport.ts';

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

/** Error for a transport the peer closed mid-handshake: the peer's close code names the reason. */
function closedByPeer(code: number, reason: string): ChannelError {
  const known = codeForClose(code) as ChannelErrorCode | undefined;
  return new ChannelError(known ?? 'E_HANDSHAKE_FAILED', `peer closed the connection during the handshake (${code}${reason ? `: ${reason}` : ''})`);
}

/**
 * Drives one side: `step` answers each incoming message with the reply to send (if any) and
 * returns the result when the handshake is complete.
 */
function drive(
  transport: FrameTransport,
  timeoutMs: number,
  first: HandshakeMessage | undefined,
  step: (m: HandshakeMessage) => { send?: HandshakeMessage; done?: HandshakeResult },
): Promise<HandshakeResult> {
  return new Promise<HandshakeResult>((resolve, reject) => {
    let settled = false;
    const fail = (e: ChannelError, close: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (close) transport.close(e.closeCode ?? 4000, `${e.code}: ${e.message}`);
      transport.onFrame(() => {});
      reject(e);
    };
    const timer = setTimeout(() => fail(new ChannelError('E_HANDSHAKE_TIMEOUT', `handshake did not complete within ${timeoutMs} ms`), true), timeoutMs);
    timer.unref?.();
    transport.onClose((code, reason) => fail(closedByPeer(code, reason), false));
    transport.onFrame((frame) => {
      if (settled) return;
      try {
        const out = step(readHandshake(frame));
        if (out.send) transport.send(encodeMessage(out.send));
        if (out.done) {
          settled = true;
          clearTimeout(timer);
          transport.onFrame(() => {});
          resolve(out.done);
        }
      } catch (e) {
        fail(e instanceof ChannelError ? e : new ChannelError('E_HANDSHAKE_FAILED', (e as Error)?.message ?? String(e)), true);
      }
    });
    if (first) transport.send(encodeMessage(first));
  });
}

/** Site side of the handshake over `transport`. */
export function runClientHandshake(transport: FrameTransport, opts: ClientHandshakeOptions & { timeoutMs: number }): Promise<HandshakeResult> {
  const hs = new ClientHandshake(opts);
  return drive(transport, opts.timeoutMs, hs.hello(), (m) => {
    if (m.type === 'hs.server_hello') return { send: hs.onServerHello(m) };
    if (m.type === 'hs.server_finished') return { done: hs.onServerFinished(m) };
    throw new ChannelError('E_HANDSHAKE_FAILED', `site received ${m.type}, which only sites send`);
  });
}

/** Aggregator side of the handshake over `transport`. */
export function runServerHandshake(transport: FrameTransport, opts: ServerHandshakeOptions & { timeoutMs: number }): Promise<HandshakeResult> {
  const hs = new ServerHandshake(opts);
  return drive(transport, opts.timeoutMs, undefined, (m) => {
    if (m.type === 'hs.client_hello') return { send: hs.onClientHello(m) };
    if (m.type === 'hs.client_auth') {
      const { finished, result } = hs.onClientAuth(m);
      return { send: finished, done: result };
    }
    throw new ChannelError('E_HANDSHAKE_FAILED', `aggregator received ${m.type}, which only the aggregator sends`);
  });
}
