// The aggregator's end of the channel: accepts websockets (or in-memory transports), authenticates sites, keeps one session per site.
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { ChannelError } from '../../protocols/error-catalogue.ts';
import type { ConnectionLimits } from '../../protocols/limits.ts';
import type { ReplyMessage } from '../../protocols/messages.ts';
import { Allowlist } from '../crypto/allowlist.ts';
import { FRAME_OVERHEAD } from '../crypto/frame-cipher.ts';
import type { Identity } from '../crypto/identity.ts';
import { NonceCache } from '../crypto/nonce-cache.ts';
import { primitivesNamed } from '../crypto/primitives.ts';
import { MAX_TLS_FILE_BYTES, readRegularFileUpTo } from '../util/bounded-read.ts';
import { addressGroup, GroupCounts } from './address-group.ts';
import { ConnectionGate } from './connection-gate.ts';
import { resolveConnectionLimits } from './connection-limits.ts';
import { HandshakeRateLimiter } from './handshake-rate-limiter.ts';
import { guardPreAuthBytes } from './pre-auth-guard.ts';
import { InboundBudget } from './inbound-budget.ts';
import { runServerHandshake } from './handshake-driver.ts';
import { createMemoryTransportPair } from './memory-transport.ts';
import { RequestTracker } from './request-tracker.ts';
import { SecureSession, type OutgoingRequest } from './secure-session.ts';
import type { FrameTransport } from './transport.ts';
import { WsTransport } from './ws-transport.ts';

export interface SecureServerOptions {
  identity: Identity;
  /** Which site keys may connect, and their names. */
  allowlist: Allowlist;
  /** Listen on this port (0 = any free port). Ignored when `server` is given. Omit both for in-memory only. */
  port?: number;
  /** Bind address. Default 127.0.0.1. */
  host?: string;
  /** An existing http(s) server to attach to (the caller listens). */
  server?: HttpServer;
  /** wss:// with these PEM files, in addition to the channel's own encryption. */
  tls?: { certFile: string; keyFile: string };
  /** Overrides of DEFAULT_CONNECTION_LIMITS (protocols/limits.ts), validated here: an unknown or invalid one throws E_INVALID_PARAMETER. */
  limits?: Partial<ConnectionLimits>;
  /**
   * Handshakes per second per remote address (IPv6: per /64). Default 20. Infinity disables it,
   * for loopback simulations and benchmarks where every site shares one address; it then also
   * lifts the per-address caps maxPendingHandshakesPerAddress and maxConnectionsPerAddress unless
   * `limits` sets them. The overall caps stay.
   */
  handshakesPerSecondPerAddress?: number;
  /** Asymmetric primitives for the handshake. Default 'node' (see shared/crypto/primitives.ts). */
  primitives?: 'node' | 'tweetnacl';
}

export interface SecureServerEvents {
  session: [session: SecureSession];
  /** A connection that never became a session: its code and address (for logs and tests). */
  refused: [info: { code: string; address: string; message: string }];
}

/**
 * Sites connect, prove their allowlisted key and get a SecureSession (`session` event).
 * One live session per site key: a newer session REPLACES the older one, which is closed with
 * E_SESSION_REPLACED (4032). A site that reconnects after a network cut is the common case, and its
 * old socket may linger half-open until the idle timeout; refusing would lock it out meanwhile.
 */
export class SecureServer extends EventEmitter<SecureServerEvents> {
  readonly limits: ConnectionLimits;
  readonly stats = { handshakes: 0, refused: {} as Record<string, number>, replaced: 0 };
  private readonly sessions = new Map<string, SecureSession>();
  /** Per site, kept across its sessions: request bookkeeping and inbound budget. */
  private readonly perSite = new Map<string, { tracker: RequestTracker; budget: InboundBudget }>();
  private readonly nonceCache: NonceCache;
  private readonly rateLimiter: HandshakeRateLimiter;
  /** Handshakes in progress, per address group (addressGroup) and in all. */
  private readonly pending = new GroupCounts();
  /** The per-address caps in force (see handshakesPerSecondPerAddress). */
  private readonly perAddress: { pendingHandshakes: number; connections: number };
  private gate: ConnectionGate | undefined;
  private httpServer: HttpServer | undefined;
  private wss: WebSocketServer | undefined;
  private ownsHttpServer = false;
  private closing = false;

  constructor(private readonly opts: SecureServerOptions) {
    super();
    this.limits = resolveConnectionLimits(opts.limits);
    this.nonceCache = new NonceCache(this.limits.maxClockSkewMs);
    this.rateLimiter = new HandshakeRateLimiter(opts.handshakesPerSecondPerAddress ?? 20);
    const sharedAddress = opts.handshakesPerSecondPerAddress === Infinity;
    this.perAddress = {
      pendingHandshakes: sharedAddress && opts.limits?.maxPendingHandshakesPerAddress === undefined ? Infinity : this.limits.maxPendingHandshakesPerAddress,
      connections: sharedAddress && opts.limits?.maxConnectionsPerAddress === undefined ? Infinity : this.limits.maxConnectionsPerAddress,
    };
  }

  /** Starts listening for websockets (when a port or server was given). Resolves once bound. */
  async listen(): Promise<this> {
    const { opts } = this;
    if (opts.server) this.httpServer = opts.server;
    else if (opts.port !== undefined) {
      this.ownsHttpServer = true;
      if (opts.tls) {
        let cert: Buffer, key: Buffer;
        try {
          // PEM files are a few KiB: regular files only, bounded (a FIFO or /dev/zero fails at once)
          cert = readRegularFileUpTo(opts.tls.certFile, MAX_TLS_FILE_BYTES);
          key = readRegularFileUpTo(opts.tls.keyFile, MAX_TLS_FILE_BYTES);
        } catch (e) {
          throw new ChannelError('E_TLS_CONFIG', `cannot read TLS certificate or key: ${(e as Error).message}; give PEM files of at most ${MAX_TLS_FILE_BYTES} bytes`);
        }
        this.httpServer = createHttpsServer({ cert, key, handshakeTimeout: this.limits.handshakeTimeoutMs });
      } else this.httpServer = createHttpServer();
      // Before the upgrade nothing is authenticated: cap open connections (per address and in all)
      // and give each an absolute deadline to upgrade (a per-byte idle timeout would let a peer
      // sending one byte every few seconds hold its socket forever). Our own listener only: a
      // server passed in may serve other HTTP, which these rules would cut.
      this.gate = new ConnectionGate({
        maxPerAddress: this.perAddress.connections, maxTotal: this.limits.maxConnections, upgradeDeadlineMs: this.limits.handshakeTimeoutMs,
        onRefused: (code, address, message) => this.noteRefused(new ChannelError(code, message), address),
      });
      this.gate.attach(this.httpServer);
      this.httpServer.on('clientError', (_e, socket: Socket) => socket.destroy());
    }
    if (!this.httpServer) return this;
    this.wss = new WebSocketServer({ server: this.httpServer, maxPayload: this.limits.maxFrameBytes + FRAME_OVERHEAD, perMessageDeflate: false, clientTracking: false });
    this.wss.on('connection', (ws, req) => {
      this.gate?.upgraded(req.socket);
      const transport = new WsTransport(ws, req.socket.remoteAddress ?? 'unknown');
      const guard = guardPreAuthBytes(req.socket, transport);
      // The count ends only for a peer that authenticated. A refused one stays under it while its
      // socket closes (up to CLOSE_GRACE_MS): otherwise failing the handshake on purpose would buy
      // two seconds of unlimited reading, frames of up to maxFrameBytes buffered, before any key.
      void this.acceptTransport(transport).then((session) => { if (session) guard.stop(); });
    });
    this.wss.on('error', () => {});
    if (this.ownsHttpServer) {
      await new Promise<void>((resolve, reject) => {
        this.httpServer!.once('error', reject);
        this.httpServer!.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
      });
    }
    return this;
  }

  /** The bound port (after listen). */
  get port(): number {
    return (this.httpServer?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** ws:// or wss:// URL of this server on its bind address. */
  get url(): string {
    return `${this.opts.tls ? 'wss' : 'ws'}://${this.opts.host ?? '127.0.0.1'}:${this.port}`;
  }

  /**
   * Runs the handshake on any transport and, on success, registers and announces the session.
   * Websocket connections come through here, and so do in-memory ones (see connectInMemory).
   */
  async acceptTransport(transport: FrameTransport): Promise<SecureSession | undefined> {
    const refuse = (e: ChannelError): undefined => {
      this.noteRefused(e, transport.remoteAddress);
      return undefined;
    };
    if (this.closing) {
      const e = new ChannelError('E_SERVER_CLOSING', 'aggregator is shutting down');
      transport.close(e.closeCode!, `${e.code}: ${e.message}`);
      return refuse(e);
    }
    // Unauthenticated peers: bound what their pending handshakes can hold (each up to
    // PRE_AUTH_MAX_BYTES and a socket, for up to handshakeTimeoutMs), per address so that a few
    // addresses cannot take every slot, and in all. The close reason gives no counts.
    const group = addressGroup(transport.remoteAddress);
    const over = this.pending.of(group) >= this.perAddress.pendingHandshakes ? 'from your address (maxPendingHandshakesPerAddress)'
      : this.pending.total >= this.limits.maxPendingHandshakes ? 'on this aggregator (maxPendingHandshakes)' : undefined;
    if (over) {
      const e = new ChannelError('E_RATE_LIMITED', `too many handshakes in progress ${over}; retry later`);
      transport.close(e.closeCode!, `${e.code}: ${e.message}`);
      return refuse(e);
    }
    if (!this.rateLimiter.tryTake(group)) {
      const e = new ChannelError('E_RATE_LIMITED', `too many handshakes per second from ${transport.remoteAddress}; retry later`);
      transport.close(e.closeCode!, `${e.code}: ${e.message}`);
      return refuse(e);
    }
    let result;
    this.pending.add(group);
    try {
      result = await runServerHandshake(transport, {
        identity: this.opts.identity,
        siteNameOf: (key) => this.opts.allowlist.siteNameOf(key),
        nonceCache: this.nonceCache,
        primitives: primitivesNamed(this.opts.primitives),
        maxClockSkewMs: this.limits.maxClockSkewMs,
        timeoutMs: this.limits.handshakeTimeoutMs,
        helloTimeoutMs: this.limits.helloTimeoutMs,
      });
    } catch (e) {
      return refuse(e instanceof ChannelError ? e : new ChannelError('E_HANDSHAKE_FAILED', String(e)));
    } finally {
      this.pending.remove(group);
    }
    if (this.closing) {
      // The server began closing while this handshake was in flight: no session on a closed server.
      const e = new ChannelError('E_SERVER_CLOSING', 'aggregator is shutting down');
      transport.close(e.closeCode!, `${e.code}: ${e.message}`);
      return refuse(e);
    }
    const session = new SecureSession(transport, result, 'server', this.limits, this.trackerFor(result.siteName), this.budgetFor(result.siteName));
    this.stats.handshakes++;
    const previous = this.sessions.get(result.siteName);
    this.sessions.set(result.siteName, session);
    if (previous?.isOpen) {
      this.stats.replaced++;
      previous.closeWithError(new ChannelError('E_SESSION_REPLACED', `site ${result.siteName} opened a newer session`));
    }
    session.on('close', () => {
      if (this.sessions.get(session.siteName) === session) this.sessions.delete(session.siteName);
    });
    this.emit('session', session);
    return session;
  }

  /** Counts a connection that never became a session and tells listeners (`refused`). */
  private noteRefused(e: ChannelError, address: string): void {
    this.stats.refused[e.code] = (this.stats.refused[e.code] ?? 0) + 1;
    this.emit('refused', { code: e.code, address, message: e.message });
  }

  /** Open TCP connections on this server's own listener (all, or from `address`'s group); 0 without one. */
  openConnections(address?: string): number {
    return this.gate?.openConnections(address) ?? 0;
  }

  /** A client-side transport connected to this server in memory (simulations). */
  connectInMemory(address = 'memory:site'): FrameTransport {
    const [client, server] = createMemoryTransportPair({ client: address, server: 'memory:aggregator' });
    void this.acceptTransport(server);
    return client;
  }

  /** The live session of a site, if any. */
  session(siteName: string): SecureSession | undefined {
    return this.sessions.get(siteName);
  }

  /** Names of sites with a live session. */
  get connectedSites(): string[] {
    return [...this.sessions.keys()];
  }

  /** Names of every site the allowlist admits, connected or not. */
  get allowlistedSites(): string[] {
    return this.opts.allowlist.siteNames;
  }

  /**
   * A request to a site that survives a reconnect: if the session drops, a reply that arrives on
   * the site's next session (before the timeout) settles it. Duplicates are counted once.
   */
  request(siteName: string, message: OutgoingRequest, opts: { timeoutMs?: number } = {}): Promise<ReplyMessage> {
    const session = this.sessions.get(siteName);
    if (!session?.isOpen) return Promise.reject(new ChannelError('E_NOT_CONNECTED', `site ${siteName} has no live session`));
    return session.request(message, opts);
  }

  private siteState(siteName: string): { tracker: RequestTracker; budget: InboundBudget } {
    let st = this.perSite.get(siteName);
    if (!st) {
      st = { tracker: new RequestTracker(this.limits.maxInFlight), budget: new InboundBudget(this.limits) };
      this.perSite.set(siteName, st);
    }
    return st;
  }

  /** Request bookkeeping of one site (duplicates, timeouts), kept across its sessions. */
  trackerFor(siteName: string): RequestTracker {
    return this.siteState(siteName).tracker;
  }

  /**
   * What one site may still send (inbound bytes/s, messages/s, unsolicited strikes), kept across
   * its sessions: a site closed for flooding cannot refill its budget by reconnecting.
   */
  budgetFor(siteName: string): InboundBudget {
    return this.siteState(siteName).budget;
  }

  /** Closes every session (E_SERVER_CLOSING) and stops listening. */
  async close(): Promise<void> {
    this.closing = true;
    const e = new ChannelError('E_SERVER_CLOSING', 'aggregator is shutting down');
    for (const s of this.sessions.values()) s.closeWithError(e);
    for (const { tracker } of this.perSite.values()) tracker.failAll(e);
    this.wss?.close();
    if (this.ownsHttpServer && this.httpServer) {
      this.httpServer.closeAllConnections?.();
      await new Promise<void>((resolve) => this.httpServer!.close(() => resolve()));
    }
  }
}
