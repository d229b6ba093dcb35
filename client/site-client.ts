// Connects a SiteAgent to the aggregator over the secure channel: join, answer queries, digest consensus.
import type { SecureClient } from '../shared/channel/secure-client.ts';
import type { SecureSession } from '../shared/channel/secure-session.ts';
import type { Consensus, QueryRequest, SessionMessage } from '../protocols/messages.ts';
import type { CentralPolicy, SiteAgent } from './site-agent.ts';

export interface SiteRunResult {
  runId: string | undefined;
  roundsDigested: number;
  baselineAccuracy: number | undefined;
  finalAccuracy: number | undefined;
  ledgerEpsilon: number;
  ledgerDelta: number;
  bytesSent: number;
  bytesReceived: number;
}

/**
 * Drives one site: on each (re)connection it joins; queries are answered in order (a repeated
 * request id, after a reconnect, is answered again from the same model but recorded once in the
 * ledger); consensus messages are digested one at a time. Resolves when the aggregator says bye
 * or the last round is digested.
 */
export class SiteClient {
  private runId: string | undefined;
  private central: CentralPolicy = {};
  private rounds = Infinity;
  /** The run's δ (from its Welcome), at which the site reports its own worst-case ε. */
  private delta = 1e-5;
  private digested = 0;
  private queue: Promise<void> = Promise.resolve();
  private bytes = { sent: 0, received: 0 };
  private done!: (r: SiteRunResult) => void;
  private fail!: (e: Error) => void;
  readonly finished: Promise<SiteRunResult>;

  constructor(private readonly agent: SiteAgent, private readonly client: SecureClient, private readonly publicSpec: string, private readonly log: (line: string) => void = () => {}) {
    this.finished = new Promise((res, rej) => { this.done = res; this.fail = rej; });
    client.on('session', (s) => void this.join(s));
    client.on('message', (m, s) => this.onMessage(m, s));
    client.on('error', (e) => this.fail(e));
    client.on('disconnect', (info) => {
      if (info.code === 1000 || info.errorCode === 'E_SERVER_CLOSING') this.finish();
    });
  }

  private async join(s: SecureSession): Promise<void> {
    const hash = this.agent.publicSet.hash;
    try {
      const reply = await s.request({ type: 'join', siteName: this.agent.settings.name, capabilities: ['vote_histogram', 'soft_labels'], datasetHashes: { public_set: hash } });
      if (reply.type === 'error') throw new Error(`${reply.code}: ${reply.message}`);
      if (reply.type !== 'welcome') throw new Error(`expected welcome, got ${reply.type}`);
      this.runId = reply.runId;
      const cfg = reply.config as { rounds?: number; privacy?: Record<string, number> };
      this.rounds = cfg.rounds ?? Infinity;
      const p = cfg.privacy ?? {};
      if (typeof p.delta === 'number' && p.delta > 0 && p.delta < 1) this.delta = p.delta;
      this.central = { noiseMultiplier: p.noise_multiplier, sigma1: p.sigma1, sigma2: p.sigma2, threshold: p.threshold };
      this.log(`joined run ${reply.runId}`);
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private onMessage(m: SessionMessage, s: SecureSession): void {
    if (m.type === 'query_request') this.enqueue(() => this.answer(m, s));
    else if (m.type === 'consensus') this.enqueue(() => this.digest(m, s));
    else if (m.type === 'bye') this.finish();
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(job).catch((e) => this.log(`error: ${(e as Error).message}`));
  }

  private async answer(q: QueryRequest, s: SecureSession): Promise<void> {
    try {
      const a = await this.agent.answer({ runId: this.runId ?? '', round: q.round, requestId: q.requestId, indices: q.indices, replyKind: q.replyKind === 'vote_histogram' ? 'vote_histogram' : 'soft_labels', params: q.params }, this.central);
      const target = this.client.session ?? s;
      target.send({
        type: 'query_reply', requestId: q.requestId, round: q.round, replyKind: q.replyKind, rows: a.rows, cols: a.cols,
        ...(a.votes ? { votes: a.votes } : {}), ...(a.soft ? { soft: a.soft } : {}),
        privacyEvent: a.event as unknown as Record<string, unknown>, stats: { teachers: a.teachers },
      });
    } catch (e) {
      (this.client.session ?? s).send({ type: 'error', code: (e as { code?: string }).code?.startsWith('E_') ? (e as { code: string }).code : 'E_SITE_FAILED', message: (e as Error).message.slice(0, 500), requestId: q.requestId });
    }
  }

  private async digest(c: Consensus, s: SecureSession): Promise<void> {
    const metrics = await this.agent.digest(this.delta, { indices: c.indices, cols: c.cols, ...(c.soft ? { soft: c.soft } : {}), ...(c.labels ? { labels: c.labels } : {}) });
    this.digested++;
    this.log(`round ${c.round + 1}: digested consensus; accuracy ${metrics.accuracy?.toFixed(4) ?? 'n/a'}, own ε bound ${metrics.ledger_epsilon?.toFixed(3)}`);
    const target = this.client.session ?? s;
    if (target.isOpen) target.send({ type: 'metrics', round: c.round, values: metrics });
    if (c.round + 1 >= this.rounds) this.finish();
  }

  private finish(): void {
    const s = this.client.session;
    if (s) { this.bytes.sent += s.stats.bytesOut; this.bytes.received += s.stats.bytesIn; }
    void this.queue.then(() => this.done({
      runId: this.runId,
      roundsDigested: this.digested,
      baselineAccuracy: this.agent.baselineAccuracy,
      finalAccuracy: this.agent.lastAccuracy,
      ledgerEpsilon: this.agent.ledger.epsilon(this.delta),
      ledgerDelta: this.delta,
      bytesSent: this.bytes.sent,
      bytesReceived: this.bytes.received,
    }));
  }
}
