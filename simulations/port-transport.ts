// A FrameTransport over a worker_threads MessagePort: sites in worker threads reach the aggregator's SecureServer in the main thread.
import type { MessagePort } from 'node:worker_threads';
import { closeReason, type FrameTransport } from '../shared/channel/transport.ts';

type PortMessage = { t: 'frame'; b: Uint8Array } | { t: 'close'; code: number; reason: string };

/**
 * Frames cross threads as copies (structured clone), in order, like bytes on a socket. A close
 * is a message too, so frames sent before it arrive first; both ends then release the port.
 */
export class PortTransport implements FrameTransport {
  private frameHandler: (frame: Uint8Array) => void = () => {};
  private readonly closeHandlers: ((code: number, reason: string) => void)[] = [];
  private closed = false;

  constructor(private readonly port: MessagePort, readonly remoteAddress: string) {
    port.on('message', (m: PortMessage) => {
      if (m.t === 'frame') { if (!this.closed) this.frameHandler(m.b); }
      else this.finish(m.code, m.reason);
    });
    port.on('close', () => this.finish(1006, 'port closed'));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.port.postMessage({ t: 'frame', b: frame } satisfies PortMessage);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    const text = closeReason(reason);
    this.port.postMessage({ t: 'close', code, reason: text } satisfies PortMessage);
    this.finish(code, text);
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
  }

  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandlers.push(handler);
  }

  bufferedBytes(): number {
    return 0;
  }

  private finish(code: number, reason: string): void {
    if (this.closed && this.closeHandlers.length === 0) return;
    this.closed = true;
    for (const h of this.closeHandlers.splice(0)) h(code, reason);
    // give the close message time to cross before the port goes
    setTimeout(() => this.port.close(), 100).unref();
  }
}
