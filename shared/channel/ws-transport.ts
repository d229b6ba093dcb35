// FrameTransport over a `ws` WebSocket: binary messages only; misbehaving peers are cut off, not waited on.
import type WebSocket from 'ws';
import { ChannelError } from '../../protocols/error-catalogue.ts';
import { closeReason, type FrameTransport } from './transport.ts';

/** How long a closing socket may take to finish the close handshake before it is destroyed. */
const CLOSE_GRACE_MS = 2000;
/** A flooding peer is not read while closing (see close()); this is only time for our close frame to leave. */
const FLOODER_CLOSE_GRACE_MS = 250;

/** A control frame's header as counted against the inbound budget: 2 bytes, and 4 of mask from a client. */
const CONTROL_HEADER_BYTES = 6;

/**
 * Wraps an open `ws` socket. Text frames are refused (E_FRAME_MALFORMED): the protocol is binary.
 * Websocket pings and pongs are reported to `onControlFrame`: fedistill never sends them (its
 * heartbeats travel inside the session), but `ws` answers every ping with a pong by itself, so a
 * peer could otherwise make us read and write without limit, unseen by the session's budget.
 */
export class WsTransport implements FrameTransport {
  private frameHandler: (frame: Uint8Array) => void = () => {};
  private controlHandler: (byteLength: number) => void = () => {};
  private readonly closeHandlers: ((code: number, reason: string) => void)[] = [];
  private closed = false;

  constructor(private readonly ws: WebSocket, readonly remoteAddress: string) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => {
      if (this.closed) return;
      if (!isBinary) {
        const e = new ChannelError('E_FRAME_MALFORMED', 'text frame received; the protocol sends binary frames only');
        this.close(e.closeCode!, `${e.code}: ${e.message}`);
        return;
      }
      this.frameHandler(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer));
    });
    const onControl = (data: Buffer): void => { if (!this.closed) this.controlHandler(data.length + CONTROL_HEADER_BYTES); };
    ws.on('ping', onControl);
    ws.on('pong', onControl);
    // errors (oversize frames, bad opcodes, resets) are followed by 'close'; listening keeps them from crashing the process
    ws.on('error', () => {});
    ws.on('close', (code, reason) => this.finish(code, reason.toString('utf8')));
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN;
  }

  send(frame: Uint8Array): void {
    if (this.isOpen) this.ws.send(frame, { binary: true });
  }

  close(code: number, reason: string, opts: { stopReading?: boolean } = {}): void {
    if (this.ws.readyState === this.ws.CLOSED) return;
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code, closeReason(reason));
    // A flooding peer keeps sending until it reads our close frame; without this, `ws` would go on
    // receiving and unmasking its frames (16 MiB each) for the whole grace period, only to drop them.
    if (opts.stopReading) this.ws.pause();
    const timer = setTimeout(() => this.ws.terminate(), opts.stopReading ? FLOODER_CLOSE_GRACE_MS : CLOSE_GRACE_MS);
    timer.unref();
    this.ws.once('close', () => clearTimeout(timer));
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
  }

  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandlers.push(handler);
  }

  onControlFrame(handler: (byteLength: number) => void): void {
    this.controlHandler = handler;
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.closeHandlers.splice(0)) h(code, reason);
  }
}
