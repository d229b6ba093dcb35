// An in-memory FrameTransport pair: simulations run the real handshake, encryption and sessions without sockets.
import { closeReason, type FrameTransport } from './transport.ts';

class MemoryTransport implements FrameTransport {
  peer!: MemoryTransport;
  private frameHandler: (frame: Uint8Array) => void = () => {};
  private readonly closeHandlers: ((code: number, reason: string) => void)[] = [];
  private closed = false;
  private queued = 0;

  constructor(readonly remoteAddress: string) {}

  get isOpen(): boolean {
    return !this.closed;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    // copy, as a socket would: the sender may reuse its buffer
    const copy = Buffer.from(frame);
    this.queued += copy.length;
    setImmediate(() => {
      this.queued -= copy.length;
      if (!this.peer.closed) this.peer.frameHandler(copy);
    });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    const text = closeReason(reason);
    // frames already sent are delivered first, like a websocket close frame that queues behind data
    setImmediate(() => {
      this.finish(code, text);
      this.peer.finish(code, text);
    });
    this.closed = true;
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
  }

  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandlers.push(handler);
  }

  bufferedBytes(): number {
    return this.queued;
  }

  private finished = false;
  private finish(code: number, reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    for (const h of this.closeHandlers.splice(0)) h(code, reason);
  }
}

/**
 * Two connected in-memory transports: what one sends, the other receives on a later tick, in order.
 * `addresses` name each end as the other sees it (the server's rate limit keys on it).
 */
export function createMemoryTransportPair(addresses: { client?: string; server?: string } = {}): [client: FrameTransport, server: FrameTransport] {
  const client = new MemoryTransport(addresses.server ?? 'memory:server');
  const server = new MemoryTransport(addresses.client ?? 'memory:client');
  client.peer = server;
  server.peer = client;
  return [client, server];
}
