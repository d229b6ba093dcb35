// The site's end of the channel: connects, pins the aggregator's key, and reconnects with backoff and jitter.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { ChannelError, CHANNEL_ERRORS } from '../../protocols/error-catalogue.ts';
import type { ConnectionLimits } from '../../protocols/limits.ts';
import type { ReplyMessage, SessionMessage, Outgoing } from '../../protocols/messages.ts';
import { FRAME_OVERHEAD } from '../crypto/frame-cipher.ts';
import type { Identity } from '../crypto/identity.ts';
import { primitivesNamed } from '../crypto/primitives.ts';
import { MAX_TLS_FILE_BYTES, readRegularFileUpTo } from '../util/bounded-read.ts';
import { resolveConnectionLimits } from './connection-limits.ts';
import { PeerClosedError, runClientHandshake } from './handshake-driver.ts';
import { guardPreAuthBytes, type PreAuthGuard } from './pre-auth-guard.ts';
import { InboundBudget } from './inbound-budget.ts';
import { DEFAULT_RECONNECT_POLICY, backoffDelay, type ReconnectPolicy } from './reconnect-backoff.ts';
import { RequestTracker } from './request-tracker.ts';
import { SecureSession, type OutgoingRequest, type SessionCloseInfo } from './secure-session.ts';
import type { FrameTransport } from './transport.ts';
import { WsTransport } from './ws-transport.ts';

export interface SecureClientOptions {
  /** ws:// or wss:// URL of the aggregator. Either this or `connect`. */
  url?: string;
  /** Opens a transport some other way (in-memory: `() => server.connectInMemory()`). */
  connect?: () => FrameTransport | Promise<FrameTransport>;
  identity: Identity;
  /** The aggregator's public key, pinned: any other key is refused. */
  serverPublicKey: Uint8Array;
  /** Overrides of DEFAULT_CONNECTION_LIMITS (protocols/limits.ts), validated here: an unknown or invalid one throws E_INVALID_PARAMETER. */
  limits?: Partial<ConnectionLimits>;
  /** false: no reconnect. Otherwise overrides of DEFAULT_RECONNECT_POLICY. */
  reconnect?: false | Partial<ReconnectPolicy>;
  /** For wss://: a CA bundle (PEM file) to trust, e.g. the aggregator's self-signed certificate. */
  tls?: { caFile?: string; rejectUnauthorized?: boolean };
  primitives?: 'node' | 'tweetnacl';
}

/** A connected transport; over a websocket, with the count of what the peer sent before authenticating. */
interface OpenedTransport {
  transport: FrameTransport;
  /** `exceeded` rejects (E_FRAME_TOO_LARGE) when the peer passes PRE_AUTH_MAX_BYTES before proving its key. */
  preAuth?: { guard: PreAuthGuard; exceeded: Promise<never> };
}

export interface SecureClientEvents {
  session: [session: SecureSession];
  message: [message: SessionMessage, session: SecureSession];
  disconnect: [info: SessionCloseInfo];
  reconnecting: [info: { attempt: number; delayMs: number; lastError: string }];
  /** Fatal: the client stopped and will not reconnect. */
  error: [error: ChannelError];
  /** close() was called: the client will not connect again (also when no session is open). */
  closed: [reason: string];
}

/**
 * Refusals the aggregator announced inside an authenticated session, after which reconnecting
 * would fight another instance of this site: the site stops and reports. Only E_SESSION_REPLACED
 * can be announced: an unknown key or another protocol version is refused during the handshake,
 * before any session key exists, so those arrive as bare close codes and are retried, like any
 * plaintext close (one forged frame must not end a site's participation).
 */
const ANNOUNCED_FATAL: ReadonlySet<string> = new Set(['E_SESSION_REPLACED']);

/**
 * Handshake failures this site detects itself that retrying cannot fix: a pinned key that is not
 * the one presented, a protocol major this build does not speak. Fatal only until the first
 * session: then it is most likely a misconfiguration, and the operator is watching. Once this
 * site has met the pinned key, the same failure means someone else answered at the aggregator's
 * address, and the site keeps retrying.
 */
const LOCAL_FATAL_AT_START: ReadonlySet<string> = new Set(['E_SERVER_KEY_MISMATCH', 'E_UNSUPPORTED_VERSION']);

/** One line on a session close nobody authenticated, for `reconnecting` events and logs. */
function unauthenticatedClose(info: SessionCloseInfo): string {
  const why = info.reason || info.errorCode;
  return `the aggregator's connection closed with code ${info.code}${why ? ` (${why})` : ''}, not announced inside the session (unauthenticated): retrying`;
}

export class SecureClient extends EventEmitter<SecureClientEvents> {
  readonly limits: ConnectionLimits;
  /** Survives reconnects, so a reply after a reconnect settles the request made before it. */
  readonly tracker: RequestTracker;
  /** What the aggregator may still send; survives reconnects, so reconnecting does not refill it. */
  readonly budget: InboundBudget;
  private readonly policy: ReconnectPolicy | undefined;
  private current: SecureSession | undefined;
  private stopped = false;
  private attempt = 0;
  /** Whether a session was ever established with the pinned key (see LOCAL_FATAL_AT_START). */
  private everConnected = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private firstSession: { resolve: (s: SecureSession) => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly opts: SecureClientOptions) {
    super();
    if (!opts.url && !opts.connect) throw new ChannelError('E_NOT_CONNECTED', 'SecureClient needs a url or a connect function');
    this.limits = resolveConnectionLimits(opts.limits);
    this.tracker = new RequestTracker(this.limits.maxInFlight);
    this.budget = new InboundBudget(this.limits);
    this.policy = opts.reconnect === false ? undefined : { ...DEFAULT_RECONNECT_POLICY, ...opts.reconnect };
  }

  /**
   * Connects; resolves with the first session, rejects on a fatal refusal, when retries run out, or
   * (E_NOT_CONNECTED) when close() comes first, so a caller awaiting it is never left hanging.
   */
  start(): Promise<SecureSession> {
    return new Promise((resolve, reject) => {
      this.firstSession = { resolve, reject };
      void this.connectOnce();
    });
  }

  /** The live session, if connected. */
  get session(): SecureSession | undefined {
    return this.current?.isOpen ? this.current : undefined;
  }

  send(message: Outgoing<SessionMessage>): void {
    const s = this.session;
    if (!s) throw new ChannelError('E_NOT_CONNECTED', 'not connected to the aggregator (reconnecting?); retry later');
    s.send(message);
  }

  request(message: OutgoingRequest, opts: { timeoutMs?: number } = {}): Promise<ReplyMessage> {
    const s = this.session;
    if (!s) return Promise.reject(new ChannelError('E_NOT_CONNECTED', 'not connected to the aggregator (reconnecting?); retry later'));
    return s.request(message, opts);
  }

  /** Stops reconnecting and closes the session politely; a start() still waiting for its first session rejects. */
  close(reason = 'site closing'): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.current?.close(1000, reason);
    if (this.firstSession) {
      this.firstSession.reject(new ChannelError('E_NOT_CONNECTED', `the client was closed (${reason}) before it reached the aggregator; nothing was sent`));
      this.firstSession = undefined;
    }
    this.emit('closed', reason);
  }

  private async openTransport(): Promise<OpenedTransport> {
    if (this.opts.connect) return { transport: await this.opts.connect() };
    const url = this.opts.url!;
    let ca: Buffer | undefined;
    if (this.opts.tls?.caFile) {
      try {
        // a PEM bundle: regular file only, bounded (a FIFO or /dev/zero fails at once)
        ca = readRegularFileUpTo(this.opts.tls.caFile, MAX_TLS_FILE_BYTES);
      } catch (e) {
        throw new ChannelError('E_TLS_CONFIG', `cannot read CA file: ${(e as Error).message}; give a PEM file of at most ${MAX_TLS_FILE_BYTES} bytes`);
      }
    }
    const ws = new WebSocket(url, {
      maxPayload: this.limits.maxFrameBytes + FRAME_OVERHEAD, perMessageDeflate: false,
      handshakeTimeout: this.limits.handshakeTimeoutMs, ca, rejectUnauthorized: this.opts.tls?.rejectUnauthorized ?? true,
    });
    let socket: Socket | undefined;
    ws.once('upgrade', (res) => { socket = res.socket; });
    return new Promise<OpenedTransport>((resolve, reject) => {
      ws.once('open', () => {
        const transport = new WsTransport(ws, url);
        if (!socket) return resolve({ transport });
        // Until the aggregator proves its pinned key, whoever answers at the URL (a DNS hijack, a
        // wrong port) gets PRE_AUTH_MAX_BYTES, not 16 MiB frames buffered here. Attached on `open`,
        // after ws's own reader (see guardPreAuthBytes).
        let refuse!: (e: ChannelError) => void;
        const exceeded = new Promise<never>((_, r) => { refuse = r; });
        exceeded.catch(() => {}); // raced in connectOnce; after the race it has nobody to tell
        const guard = guardPreAuthBytes(socket, transport, (e) => refuse(new ChannelError('E_FRAME_TOO_LARGE',
          `${url} sent ${e.message} (PRE_AUTH_MAX_BYTES) without proving the pinned key: is something other than the aggregator answering there?`)));
        resolve({ transport, preAuth: { guard, exceeded } });
      });
      ws.once('error', (e) => reject(new ChannelError('E_NOT_CONNECTED', `cannot reach ${url}: ${e.message}`)));
    });
  }

  private async connectOnce(): Promise<void> {
    if (this.stopped) return;
    let session: SecureSession;
    try {
      const { transport, preAuth } = await this.openTransport();
      const handshake = runClientHandshake(transport, {
        identity: this.opts.identity,
        serverPublicKey: this.opts.serverPublicKey,
        primitives: primitivesNamed(this.opts.primitives),
        maxClockSkewMs: this.limits.maxClockSkewMs,
        timeoutMs: this.limits.handshakeTimeoutMs,
        onAuthenticated: () => preAuth?.guard.stop(),
      });
      // a peer over the pre-handshake limit fails this attempt at once (its socket closes meanwhile)
      handshake.catch(() => {});
      const result = await (preAuth ? Promise.race([handshake, preAuth.exceeded]) : handshake);
      session = new SecureSession(transport, result, 'client', this.limits, this.tracker, this.budget);
      if (this.stopped) {
        session.close(1000, 'site closing');
        return;
      }
    } catch (e) {
      this.onFailure(e instanceof ChannelError ? e : new ChannelError('E_NOT_CONNECTED', String(e)));
      return;
    }
    this.attempt = 0;
    this.everConnected = true;
    this.current = session;
    session.on('message', (m) => this.emit('message', m, session));
    session.on('close', (info) => {
      this.emit('disconnect', info);
      if (this.stopped) return;
      if (info.authenticated && !info.local) {
        // the aggregator said bye inside the session: nothing to retry (the application decides what is next)
        if (info.code === 1000) return;
        const code = info.errorCode;
        if (code && ANNOUNCED_FATAL.has(code)) return this.fail(new ChannelError(code as keyof typeof CHANNEL_ERRORS, `aggregator closed the session: ${info.reason}`));
      }
      this.scheduleRetry(info.authenticated ? info.reason || String(info.code) : unauthenticatedClose(info));
    });
    this.emit('session', session);
    this.firstSession?.resolve(session);
    this.firstSession = undefined;
  }

  private onFailure(e: ChannelError): void {
    if (!(e instanceof PeerClosedError) && !this.everConnected && LOCAL_FATAL_AT_START.has(e.code)) return this.fail(e);
    if (!this.policy || this.attempt >= this.policy.maxAttempts) return this.fail(e);
    this.scheduleRetry(`${e.code}: ${e.message}${e instanceof PeerClosedError ? '; retrying' : ''}`);
  }

  private scheduleRetry(lastError: string): void {
    if (this.stopped || !this.policy) return;
    if (this.attempt >= this.policy.maxAttempts) {
      this.fail(new ChannelError('E_NOT_CONNECTED', `gave up after ${this.attempt} reconnect attempts; last error: ${lastError}`));
      return;
    }
    this.attempt++;
    const delayMs = backoffDelay(this.attempt, this.policy);
    this.emit('reconnecting', { attempt: this.attempt, delayMs, lastError });
    this.retryTimer = setTimeout(() => void this.connectOnce(), delayMs);
  }

  private fail(e: ChannelError): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.firstSession) {
      this.firstSession.reject(e);
      this.firstSession = undefined;
    } else if (this.listenerCount('error') > 0) this.emit('error', e);
  }
}
