// One authenticated, encrypted session: validated messages in and out, requests with replies, heartbeats.
import { EventEmitter } from 'node:events';
import { CHANNEL_ERRORS, ChannelError, codeForClose } from '../../protocols/error-catalogue.ts';
import { encodeMessage } from '../../protocols/codec.ts';
import { readSessionPayload } from '../../protocols/inbound.ts';
import { messageSizeLimit, type ConnectionLimits } from '../../protocols/limits.ts';
import { REPLY_TYPES, REQUEST_TYPES, type ReplyMessage, type RequestMessage, type SessionMessage, type Outgoing } from '../../protocols/messages.ts';
import { validateSessionMessage } from '../../protocols/validators.ts';
import { PROTOCOL_VERSION } from '../../protocols/version.ts';
import { FRAME_OVERHEAD, FrameOpener, FrameSealer } from '../crypto/frame-cipher.ts';
import type { HandshakeResult } from '../crypto/handshake.ts';
import { fingerprint } from '../crypto/identity.ts';
import { formatBytes, InboundBudget } from './inbound-budget.ts';
import { RequestTracker } from './request-tracker.ts';
import type { FrameTransport } from './transport.ts';

/** A request as the caller writes it: the session fills in `v`, and `requestId` when omitted. */
export type OutgoingRequest = RequestMessage extends infer M ? (M extends RequestMessage ? Omit<M, 'v' | 'requestId'> & { requestId?: string } : never) : never;

/**
 * Closes after which nothing more is read from the peer and its connection is cut shortly after:
 * it was sending too much, or it stopped reading (waiting for its close frame would only keep the
 * unread bytes queued here).
 */
const CUT_OFF_CODES: ReadonlySet<string> = new Set(['E_INBOUND_RATE_EXCEEDED', 'E_UNSOLICITED_MESSAGES', 'E_PEER_NOT_READING']);

/** Longest text of a farewell (a `bye` reason or an `error` notice's message): FIELD_LIMITS.maxTextLength is 1,024. */
const FAREWELL_TEXT_MAX = 500;

/**
 * Why a session ended. `errorCode` is the catalogue code when the close code names one.
 * A websocket close frame is plaintext: anyone on the path (ws://), or anyone answering at the
 * peer's address, can send one. So a side that closes announces why *inside* the session first
 * (a `bye` before 1000, an `error` notice with the catalogue code before that code's close), and
 * `authenticated` says whether the close code was announced so. Decisions that cannot be undone
 * (stop reconnecting, end the run) must look at `authenticated`, never at the bare code.
 */
export interface SessionCloseInfo {
  code: number;
  /** The announced text when `authenticated` and closed by the peer; otherwise the close frame's (unauthenticated) reason. */
  reason: string;
  errorCode?: string;
  /** True when we closed it (our error or our close()); false when the peer or the network did. */
  local: boolean;
  /**
   * True when we closed it, or when the peer's last message inside the session announced this
   * close code; false for a close code nobody vouched for (or a connection that just dropped).
   */
  authenticated: boolean;
}

export interface SecureSessionEvents {
  message: [message: SessionMessage];
  close: [info: SessionCloseInfo];
  error: [error: Error];
}

/**
 * What the aggregator and sites use to talk once the handshake is done. Every frame is admitted
 * by the peer's inbound budget (bytes/s, messages/s) before it is decrypted (websocket pings and
 * pongs are charged to it too, though they never reach the session), then opened with the
 * expected counter, decoded, size-checked and validated before `message` fires; any failure
 * closes this session (and only this one) with the catalogue's close code.
 * Replies (welcome, query_reply, error with a requestId) settle `request()` promises instead of
 * firing `message`; a duplicate reply is dropped and counted in `tracker.stats.duplicates`.
 * Replies to requests never made or already answered, and pongs to no ping, take a strike from
 * the budget (E_UNSOLICITED_MESSAGES past maxUnsolicitedMessages); a first late reply does not.
 */
export class SecureSession extends EventEmitter<SecureSessionEvents> {
  readonly siteName: string;
  readonly peerPublicKey: Uint8Array;
  readonly peerFingerprint: string;
  readonly remoteAddress: string;
  /** Minor protocol version both sides understand. */
  readonly minor: number;
  readonly stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, pingsSent: 0 };
  private readonly sealer: FrameSealer;
  private readonly opener: FrameOpener;
  private readonly inboundRequests = new Set<string>();
  private readonly heartbeat: NodeJS.Timeout;
  // Monotonic (performance.now): a wall clock stepped by NTP would stop the pings or fake an idle timeout.
  private lastReceivedAt = performance.now();
  private lastSentAt = performance.now();
  private pingSeq = 0;
  /** Pings sent that no pong has answered yet: a pong beyond these is unsolicited. */
  private pingsAwaitingPong = 0;
  private closeInfo: SessionCloseInfo | undefined;
  private localClose: { code: number; reason: string } | undefined;
  /** The close the peer announced in its last message (a bye, or an error notice naming a close code). */
  private announcedClose: { code: number; reason: string } | undefined;
  /** True while close() sends its farewell: that one small message may pass maxSendBufferBytes. */
  private sendingFarewell = false;

  constructor(
    private readonly transport: FrameTransport,
    /** `earlyFrames`: frames the peer sent right behind its last handshake message (handshake-driver.ts). */
    handshake: HandshakeResult & { earlyFrames?: Uint8Array[] },
    readonly role: 'client' | 'server',
    private readonly limits: ConnectionLimits,
    readonly tracker: RequestTracker = new RequestTracker(limits.maxInFlight),
    /** What the peer may still send; the aggregator passes each site's own, kept across reconnects. */
    readonly budget: InboundBudget = new InboundBudget(limits),
  ) {
    super();
    this.siteName = handshake.siteName;
    this.peerPublicKey = handshake.peerPublicKey;
    this.peerFingerprint = fingerprint(handshake.peerPublicKey);
    this.remoteAddress = transport.remoteAddress;
    this.minor = handshake.minor;
    const { clientToServer, serverToClient } = handshake.keys;
    this.sealer = new FrameSealer(role === 'client' ? clientToServer : serverToClient);
    this.opener = new FrameOpener(role === 'client' ? serverToClient : clientToServer);
    this.takeOverFrames(handshake.earlyFrames?.splice(0) ?? []);
    transport.onClose((code, reason) => this.finish(code, reason));
    transport.onControlFrame?.((byteLength) => this.admitControlFrame(byteLength));
    const tick = Math.max(10, Math.min(limits.heartbeatIntervalMs, limits.idleTimeoutMs) / 2);
    this.heartbeat = setInterval(() => this.checkLiveness(), tick);
    this.heartbeat.unref();
  }

  get isOpen(): boolean {
    return this.closeInfo === undefined && this.localClose === undefined && this.transport.isOpen;
  }

  /** Bytes waiting in the transport's send buffer: callers sending bulk data can wait for it to drain. */
  get bufferedBytes(): number {
    return this.transport.bufferedBytes();
  }

  /**
   * Validates, encodes, encrypts and sends one message. Throws (without closing) when the
   * message is invalid or too large — that is the caller's bug — and E_SESSION_CLOSED when closed.
   * A peer that has left more than maxSendBufferBytes unread gets no more: its session is closed
   * (E_PEER_NOT_READING) and this send throws E_SESSION_CLOSED, as for any session that just closed.
   */
  send(message: Outgoing<SessionMessage>): void {
    if (!this.isOpen) throw new ChannelError('E_SESSION_CLOSED', `session with ${this.siteName} is closed; wait for the reconnect`);
    const full = validateSessionMessage({ ...message, v: message.v ?? PROTOCOL_VERSION } as never);
    const bytes = encodeMessage(full);
    const limit = messageSizeLimit(full.type, this.limits);
    if (bytes.length > limit) throw new ChannelError('E_MSG_TOO_LARGE', `${full.type} of ${bytes.length} bytes exceeds its limit of ${limit} bytes`);
    this.refuseIfPeerNotReading(bytes.length + FRAME_OVERHEAD);
    const frame = this.sealer.seal(bytes);
    this.transport.send(frame);
    this.stats.framesOut++;
    this.stats.bytesOut += frame.length;
    this.lastSentAt = performance.now();
    if (full.type === 'heartbeat' && full.kind === 'ping') this.pingsAwaitingPong++;
    if (REPLY_TYPES.has(full.type) && 'requestId' in full && full.requestId !== undefined) this.inboundRequests.delete(full.requestId);
  }

  /** Sends a request and resolves with its reply; rejects on E_REQUEST_TIMEOUT or the peer's error reply. */
  request(message: OutgoingRequest, opts: { timeoutMs?: number } = {}): Promise<ReplyMessage> {
    const requestId = message.requestId ?? this.tracker.newId();
    let reply: Promise<ReplyMessage>;
    try {
      reply = this.tracker.begin(requestId, opts.timeoutMs ?? this.limits.requestTimeoutMs);
    } catch (e) {
      return Promise.reject(e);
    }
    try {
      this.send({ ...message, requestId } as Outgoing<SessionMessage>);
    } catch (e) {
      this.tracker.settle({ type: 'error', v: PROTOCOL_VERSION, code: 'E_SESSION_CLOSED', message: 'not sent', requestId });
      reply.catch(() => {});
      return Promise.reject(e);
    }
    return reply;
  }

  /**
   * Closes the session, announcing why inside it first: a `bye` when the code is 1000, an `error`
   * notice (no requestId) with the catalogue code when the code names one. The peer can then tell
   * this close from a forged close frame (SessionCloseInfo.authenticated).
   */
  close(code = 1000, reason = 'closed'): void {
    if (!this.isOpen) return;
    const errorCode = codeForClose(code);
    // closeWithError's reasons start with the code, which the notice carries in its own field
    const text = (errorCode && reason.startsWith(`${errorCode}: `) ? reason.slice(errorCode.length + 2) : reason).slice(0, FAREWELL_TEXT_MAX);
    this.sendingFarewell = true;
    if (code === 1000) this.trySend({ type: 'bye', reason: text });
    else if (errorCode) this.trySend({ type: 'error', code: errorCode, message: text });
    this.sendingFarewell = false;
    this.localClose = { code, reason };
    this.transport.close(code, reason, { stopReading: CUT_OFF_CODES.has(codeForClose(code) ?? '') });
  }

  /** Closes with a catalogue error's close code. */
  closeWithError(e: ChannelError): void {
    this.close(e.closeCode ?? 4000, `${e.code}: ${e.message}`);
  }

  /**
   * Bounds what is queued for a peer that does not read (the transport's send buffer): a site that
   * stops reading but keeps pinging never idles out, and every consensus and query sent to it would
   * otherwise stay in memory. Closes (E_PEER_NOT_READING) and throws E_SESSION_CLOSED when a frame
   * of `frameBytes` would pass maxSendBufferBytes; one frame always fits an empty buffer.
   */
  private refuseIfPeerNotReading(frameBytes: number): void {
    const cap = this.limits.maxSendBufferBytes;
    const queued = this.transport.bufferedBytes();
    if (queued + frameBytes <= cap || this.sendingFarewell) return;
    const e = new ChannelError('E_PEER_NOT_READING', `${formatBytes(queued)} unread, ${formatBytes(frameBytes)} more would pass maxSendBufferBytes ${formatBytes(cap)}; raise it if the link is slow`);
    this.closeWithError(e);
    throw new ChannelError('E_SESSION_CLOSED', `session with ${this.siteName} closed: ${e.code}: ${e.message}`);
  }

  /**
   * For the application: the peer sent something valid that it had no reason to send (e.g. a
   * second join, metrics for a round that is not awaited). Takes a strike from the peer's budget
   * and closes the session with E_UNSOLICITED_MESSAGES once there are too many. `what`: a few words.
   */
  reportUnsolicited(what: string): void {
    if (!this.isOpen) return;
    try {
      this.budget.noteUnsolicited(what);
    } catch (e) {
      this.closeWithError(e as ChannelError);
    }
  }

  /**
   * Becomes the transport's frame handler. Frames that came before the session existed are read
   * first, in order, on a microtask: after whoever created this session has attached its
   * `message` listeners (they do so synchronously), before any later frame from the transport.
   */
  private takeOverFrames(early: Uint8Array[]): void {
    if (early.length === 0) return void this.transport.onFrame((frame) => this.receive(frame));
    this.transport.onFrame((frame) => early.push(frame));
    queueMicrotask(() => {
      for (let i = 0; i < early.length; i++) this.receive(early[i]!);
      this.transport.onFrame((frame) => this.receive(frame));
    });
  }

  /** A websocket ping or pong from the peer: not part of the session, but charged to its budget all the same. */
  private admitControlFrame(byteLength: number): void {
    if (!this.isOpen) return;
    try {
      this.budget.admitControlFrame(byteLength);
    } catch (e) {
      this.closeWithError(e as ChannelError);
    }
  }

  private receive(frame: Uint8Array): void {
    if (!this.isOpen) return;
    let message: SessionMessage;
    try {
      if (frame.length > this.limits.maxFrameBytes + FRAME_OVERHEAD) {
        throw new ChannelError('E_FRAME_TOO_LARGE', `frame of ${frame.length} bytes exceeds maxFrameBytes ${this.limits.maxFrameBytes}`);
      }
      // before decrypting: a peer over its budget costs a comparison, not a decryption and a decode
      this.budget.admitFrame(frame.length);
      message = readSessionPayload(this.opener.open(frame), this.limits);
      this.stats.framesIn++;
      this.stats.bytesIn += frame.length;
      this.lastReceivedAt = performance.now();
      this.announcedClose = announcedCloseOf(message);
      if (REQUEST_TYPES.has(message.type)) {
        const id = (message as RequestMessage).requestId;
        this.inboundRequests.add(id);
        if (this.inboundRequests.size > this.limits.maxInFlight) {
          throw new ChannelError('E_TOO_MANY_IN_FLIGHT', `peer has ${this.inboundRequests.size} unanswered requests; maxInFlight is ${this.limits.maxInFlight}`);
        }
      }
    } catch (e) {
      this.closeWithError(e instanceof ChannelError ? e : new ChannelError('E_PROTOCOL', (e as Error)?.message ?? String(e)));
      return;
    }
    this.dispatch(message);
  }

  private dispatch(message: SessionMessage): void {
    if (message.type === 'heartbeat') {
      if (message.kind === 'ping') this.trySend({ type: 'heartbeat', kind: 'pong', seq: message.seq });
      else if (this.pingsAwaitingPong > 0) this.pingsAwaitingPong--;
      else this.reportUnsolicited('pong to no ping');
      return;
    }
    if (REPLY_TYPES.has(message.type) && (message as ReplyMessage).requestId !== undefined) {
      const outcome = this.tracker.settle(message as ReplyMessage);
      if (outcome === 'duplicate') this.reportUnsolicited(`second ${message.type} to a request`);
      else if (outcome === 'unmatched') this.reportUnsolicited(`${message.type} to no known request`);
      // an unmatched error reply is still shown to the application (it may explain a refusal)
      if (outcome !== 'unmatched' || message.type !== 'error' || !this.isOpen) return;
    }
    try {
      this.emit('message', message);
    } catch (e) {
      // a listener's bug is not the peer's fault: report it, keep the session
      if (this.listenerCount('error') > 0) this.emit('error', e as Error);
      else queueMicrotask(() => { throw e; });
    }
  }

  private trySend(message: Outgoing<SessionMessage>): void {
    try {
      this.send(message);
    } catch { /* closed meanwhile */ }
  }

  private checkLiveness(): void {
    if (!this.isOpen) return;
    const now = performance.now();
    if (now - this.lastReceivedAt > this.limits.idleTimeoutMs) {
      this.closeWithError(new ChannelError('E_IDLE_TIMEOUT', `nothing received from ${this.siteName} for ${Math.round(now - this.lastReceivedAt)} ms`));
      return;
    }
    if (now - this.lastSentAt >= this.limits.heartbeatIntervalMs) {
      this.stats.pingsSent++;
      this.trySend({ type: 'heartbeat', kind: 'ping', seq: this.pingSeq++ });
    }
  }

  private finish(code: number, reason: string): void {
    if (this.closeInfo) return;
    clearInterval(this.heartbeat);
    const local = this.localClose !== undefined;
    const c = this.localClose?.code ?? code;
    // the peer's announcement counts only for the code it announced, and only as its last message
    const announced = !local && this.announcedClose?.code === code ? this.announcedClose : undefined;
    const r = this.localClose?.reason ?? announced?.reason ?? reason;
    this.closeInfo = { code: c, reason: r, errorCode: codeForClose(c), local, authenticated: local || announced !== undefined };
    this.emit('close', this.closeInfo);
  }

  /** Why the session closed, once it has. */
  get closed(): SessionCloseInfo | undefined {
    return this.closeInfo;
  }
}

/** The close code a message announces: 1000 for a bye, a catalogue close code for an error notice naming one. */
function announcedCloseOf(m: SessionMessage): { code: number; reason: string } | undefined {
  if (m.type === 'bye') return { code: 1000, reason: m.reason };
  if (m.type !== 'error' || m.requestId !== undefined || !Object.prototype.hasOwnProperty.call(CHANNEL_ERRORS, m.code)) return undefined;
  const close = CHANNEL_ERRORS[m.code as keyof typeof CHANNEL_ERRORS].close;
  return close === null ? undefined : { code: close, reason: `${m.code}: ${m.message}` };
}
