// A SiteHub with scripted in-memory sites (no sockets, no training): each joins, answers soft-label
// queries at once and reports metrics for each consensus, so round-loop crash tests run in a second.
import { EventEmitter } from 'node:events';
import type { SiteHub, PublicSetRef } from '../../../server/aggregator.ts';
import type { SecureSession, OutgoingRequest } from '../../../shared/channel/secure-session.ts';
import type { QueryRequest, ReplyMessage } from '../../../protocols/messages.ts';
import { validateRunConfig, type RunConfig } from '../../../server/run-config.ts';

export const SCRIPTED_PUBLIC_SET: PublicSetRef = { spec: 'test:scripted-public', hash: 'sha256:5c', length: 400, numClasses: 10 };

/** A DS-FL run over the scripted sites; 400 queries per round so each release takes a few database pages. */
export function scriptedRunConfig(database: string, over: Record<string, unknown> = {}): RunConfig {
  return validateRunConfig({
    run_id: 'crash', identity: 'scripted', allowlist: 'scripted', database, public_set: SCRIPTED_PUBLIC_SET.spec,
    strategy: { name: 'dsfl', queries_per_round: 400 }, privacy: { clip: 1, noise_multiplier: 5, epsilon: 1e6, delta: 1e-5 },
    rounds: 4, quorum: 2, min_sites: 2, round_timeout_s: 5, straggler_grace_s: 1, join_timeout_s: 5, ...over,
  });
}

/** How a scripted site answers a query; `honest` is the default one-hot soft-label reply. */
export type ScriptedAnswer = (site: string, q: QueryRequest, honest: ReplyMessage) => ReplyMessage;

class ScriptedSession extends EventEmitter {
  readonly peerPublicKey: Uint8Array;
  readonly peerFingerprint: string;
  readonly stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, pingsSent: 0 };
  /** Everything the aggregator sent this session (consensus, notices), in order. */
  readonly sent: Record<string, unknown>[] = [];
  isOpen = true;
  /** False: the site digests each consensus but never sends its metrics (a site stalled after answering). */
  sendsMetrics = true;
  constructor(readonly siteName: string, i: number, keyByte = i + 1) {
    super();
    this.peerPublicKey = new Uint8Array(32).fill(keyByte);
    this.peerFingerprint = `scripted-${keyByte}`;
  }

  send(m: { type: string; round?: number }): void {
    this.sent.push(m as Record<string, unknown>);
    if (m.type === 'consensus' && this.sendsMetrics) setImmediate(() => this.emit('message', { type: 'metrics', round: m.round, values: { accuracy: 0.5 } }));
  }

  closeWithError(): void {}

  /** The polite end of a run (bye, 1000): recorded, so tests can see the sites were told. */
  readonly closes: { code: number; reason: string }[] = [];
  close(code = 1000, reason = 'closed'): void {
    this.closes.push({ code, reason });
  }
}

/** Sites `site-1`…`site-n`; call `connect()` after the Aggregator is constructed (it listens for sessions). */
export class ScriptedHub extends EventEmitter implements SiteHub {
  private readonly sessions = new Map<string, ScriptedSession>();
  /** Queries each site was asked (every attempt counts). */
  readonly asked = new Map<string, number>();
  /** `silent`: sites that answer queries but never send metrics. */
  constructor(private readonly sites: number, private readonly answer?: ScriptedAnswer, private readonly silent: readonly string[] = []) { super(); }

  /**
   * A new session of `name` (a reconnect), with key byte `keyByte` (default: the site's usual key),
   * that joins; `leave` then sends a leave on it. Returns the session.
   */
  reconnect(name: string, o: { keyByte?: number; leave?: boolean } = {}): SecureSession {
    const i = Number(name.replace('site-', '')) - 1;
    const s = new ScriptedSession(name, i, o.keyByte ?? i + 1);
    this.sessions.set(name, s);
    this.emit('session', s);
    s.emit('message', { type: 'join', requestId: `rejoin-${Date.now()}`, siteName: name, capabilities: ['soft_labels'], datasetHashes: { public_set: SCRIPTED_PUBLIC_SET.hash } });
    if (o.leave) s.emit('message', { type: 'leave', reason: 'bye' });
    return s as unknown as SecureSession;
  }

  connect(): void {
    for (let i = 0; i < this.sites; i++) {
      const s = new ScriptedSession(`site-${i + 1}`, i);
      s.sendsMetrics = !this.silent.includes(s.siteName);
      this.sessions.set(s.siteName, s);
      this.emit('session', s);
      s.emit('message', { type: 'join', requestId: `join-${i}`, siteName: s.siteName, capabilities: ['soft_labels'], datasetHashes: { public_set: SCRIPTED_PUBLIC_SET.hash } });
    }
  }

  session(name: string): SecureSession | undefined {
    return this.sessions.get(name) as unknown as SecureSession | undefined;
  }

  get connectedSites(): string[] {
    return [...this.sessions.keys()];
  }

  /** A soft-label reply: one-hot on (index mod classes), whatever the site. */
  async request(site: string, m: OutgoingRequest): Promise<ReplyMessage> {
    if (m.type !== 'query_request') throw new Error(`scripted sites answer queries only, got ${m.type}`);
    this.asked.set(site, (this.asked.get(site) ?? 0) + 1);
    const cols = SCRIPTED_PUBLIC_SET.numClasses;
    const soft = new Float32Array(m.indices.length * cols);
    m.indices.forEach((idx, r) => { soft[r * cols + (idx % cols)] = 1; });
    const honest = { type: 'query_reply', requestId: m.requestId, round: m.round, replyKind: m.replyKind, rows: m.indices.length, cols, soft, stats: { teachers: 1 } } as unknown as ReplyMessage;
    return this.answer ? this.answer(site, m as QueryRequest, honest) : honest;
  }
}
