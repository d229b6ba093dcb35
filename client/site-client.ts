// Connects a SiteAgent to the aggregator over the secure channel: join, answer queries, digest consensus.
import { createHash } from 'node:crypto';
import type { SecureClient } from '../shared/channel/secure-client.ts';
import { FedistillError } from '../shared/util/errors.ts';
import { encodePublicKey } from '../shared/crypto/identity.ts';
import { escapeControlChars } from '../shared/util/log-text.ts';
import { CHANNEL_ERRORS, ChannelError } from '../protocols/error-catalogue.ts';
import type { SecureSession } from '../shared/channel/secure-session.ts';
import type { Consensus, QueryReply, QueryRequest, SessionMessage, Outgoing } from '../protocols/messages.ts';
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

/** Replies kept for re-sending when a request id comes again (after a reconnect or an aggregator restart). */
const REPLY_CACHE_SIZE = 16;

/**
 * Drives one site: on each (re)connection it joins; queries are answered in order; consensus
 * messages are digested one at a time. Resolves when the aggregator says bye or the last round is
 * digested. A repeated request id gets the very reply sent before (the ledger records a request id
 * once, so a fresh answer — new local noise, other indices — would be a release nobody counted);
 * one the site can no longer re-send, or that asks something else, is refused (E_QUERY_REPLAYED).
 */
export class SiteClient {
  private runId: string | undefined;
  private central: CentralPolicy = {};
  private rounds = Infinity;
  /** The run's δ (from its Welcome; at most the site's own policy.delta), at which the site reports its own worst-case ε. */
  private delta = 1e-5;
  private digested = 0;
  /** The metrics each digested round sent, by run and round: a consensus re-sent after an aggregator restart is not digested again. */
  private readonly digestedRounds = new Map<string, Awaited<ReturnType<SiteAgent['digest']>>>();
  /** The run each session was welcomed into. */
  private readonly runOfSession = new WeakMap<SecureSession, string>();
  private queue: Promise<void> = Promise.resolve();
  private bytes = { sent: 0, received: 0 };
  /** The current session, whose bytes are not yet in `bytes` (added when it is replaced or the run ends). */
  private uncounted: SecureSession | undefined;
  /** finish() ran: the run is over for this site (a bye, the last consensus, or the 1000 close). */
  private ended = false;
  /** Request id → what was asked (its fingerprint) and the reply sent, newest last. */
  private readonly sentReplies = new Map<string, { asked: string; reply: Outgoing<QueryReply> }>();
  private done!: (r: SiteRunResult) => void;
  private fail!: (e: Error) => void;
  readonly finished: Promise<SiteRunResult>;

  /** Log lines carry text from the peer (close reasons, notices): control characters are escaped. */
  private readonly log: (line: string) => void;

  constructor(private readonly agent: SiteAgent, private readonly client: SecureClient, private readonly publicSpec: string, log: (line: string) => void = () => {}) {
    this.log = (line) => log(escapeControlChars(line));
    this.finished = new Promise((res, rej) => { this.done = res; this.fail = rej; });
    // a caller that stopped waiting (start() failed first, a signal) must not turn the rejection into an unhandled one
    this.finished.catch(() => undefined);
    client.on('session', (s) => { this.countBytes(); this.uncounted = s; void this.join(s); });
    client.on('message', (m, s) => this.onMessage(m, s));
    client.on('error', (e) => this.fail(e));
    // closed here before the run ended (a signal, the caller giving up): whoever awaits `finished`
    // learns it now instead of waiting for ever; after finish() (or a fatal error) it changes nothing
    client.on('closed', (reason) => { if (!this.ended) this.fail(new ChannelError('E_NOT_CONNECTED', `the site was stopped (${reason}) before the run ended`)); });
    client.on('disconnect', (info) => {
      // Only a polite end the aggregator announced inside the session (bye, then 1000) ends the run:
      // a bare close code is plaintext (a forged 1000 must not stop the site), and an announced
      // E_SERVER_CLOSING means the aggregator is stopping (a signal, a stalled round) and may resume.
      if (info.authenticated && !info.local && info.code === 1000) {
        // the run is over: no reconnect (this runs before the client would schedule one); the bye
        // that made this close authenticated already said why
        this.finish(); // first: the close below must find the run ended, not abandoned
        this.client.close('run finished');
        return;
      }
      // a site that is stopping (a signal) said so already: it does not retry, whatever the aggregator does
      if (this.stopping) return;
      if (info.authenticated && !info.local && info.errorCode === 'E_SERVER_CLOSING') {
        this.log(`the aggregator is stopping (${info.reason || 'E_SERVER_CLOSING'}); it may resume the run: the site keeps retrying (stop it with Ctrl-C)`);
        return;
      }
      // A 1000 close made here is this site's own doing (the end of its run, a fatal refusal, a
      // signal, a join retried): whatever made it logs why, so a line here would only repeat it.
      if (info.local && info.code === 1000) return;
      // a close the operator may need to act on (e.g. a budget: raise connection_limits), with its reason
      const by = info.local ? 'closed here' : info.authenticated ? 'closed by the aggregator' : 'closed by the peer, unauthenticated close code; the site keeps retrying';
      this.log(`disconnected (${by}): ${info.code} ${info.reason || info.errorCode || ''}`.trimEnd());
    });
    client.on('reconnecting', (r) => this.log(`reconnecting in ${Math.round(r.delayMs)} ms (attempt ${r.attempt}; last: ${boundedReason(r.lastError)})`));
  }

  private async join(s: SecureSession): Promise<void> {
    const hash = this.agent.publicSet.hash;
    try {
      // a site that adds local noise offers no vote histograms (they would leave it un-noised)
      const capabilities = this.agent.settings.policy?.localNoiseMultiplier > 0 ? ['soft_labels'] : ['vote_histogram', 'soft_labels'];
      const reply = await s.request({ type: 'join', siteName: this.agent.settings.name, capabilities, datasetHashes: { public_set: hash } });
      if (reply.type === 'error') throw new FedistillError(reply.code, reply.message);
      if (reply.type !== 'welcome') throw new Error(`expected welcome, got ${reply.type}`);
      this.runId = reply.runId;
      this.runOfSession.set(s, reply.runId);
      // the config is free-form JSON: take only well-typed values, so a wrong type cannot reach the site's own bound
      const cfg = reply.config;
      this.rounds = Number.isSafeInteger(cfg.rounds) && (cfg.rounds as number) > 0 ? cfg.rounds as number : Infinity;
      const p = cfg.privacy !== null && typeof cfg.privacy === 'object' && !Array.isArray(cfg.privacy) ? cfg.privacy as Record<string, unknown> : {};
      const positive = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);
      // the site reports its own bound at the run's δ, but never at a looser δ than its own (policy.delta,
      // default 1e-5): an aggregator announcing δ = 0.5 would otherwise shrink the ε this site prints
      const own = this.agent.settings.policy?.delta ?? 1e-5;
      const delta = positive(p.delta);
      this.delta = delta !== undefined && delta < 1 ? Math.min(delta, own) : own;
      const threshold = typeof p.threshold === 'number' && Number.isFinite(p.threshold) ? p.threshold : undefined;
      this.central = { noiseMultiplier: positive(p.noise_multiplier), sigma1: positive(p.sigma1), sigma2: positive(p.sigma2), threshold };
      // the site sent its public set's hash at join: a Welcome announcing another set is not this site's run
      const announced = cfg.public_set !== null && typeof cfg.public_set === 'object' ? (cfg.public_set as Record<string, unknown>).hash : undefined;
      if (typeof announced === 'string' && announced !== hash) {
        if (s.isOpen) s.send({ type: 'leave', reason: `E_PUBLIC_SET_MISMATCH: this site's public set hashes to ${hash}, not ${announced}`.slice(0, 300) });
        throw new FedistillError('E_PUBLIC_SET_MISMATCH', `run ${reply.runId} announces public set hash ${announced}; this site's public set (${this.publicSpec}) hashes to ${hash}: set public_set to the run's in site.yaml`);
      }
      // the run fixes every site's weight; answering with another count would have every reply refused
      const pinned = cfg.teachers_per_site;
      if (typeof pinned === 'number' && pinned !== this.agent.answeringTeachers) {
        const why = `this site answers with ${this.agent.answeringTeachers} teacher(s); the run weights every site as ${pinned}: set teachers: ${pinned} in its site.yaml`;
        // said inside the session, so the aggregator's log shows why this site leaves at once (only the site can tell)
        if (s.isOpen) s.send({ type: 'leave', reason: `E_TEACHERS_MISMATCH: ${why}` });
        throw new FedistillError('E_TEACHERS_MISMATCH', `run ${reply.runId} weights every site as ${pinned} teacher(s) (its run.yaml privacy.teachers_per_site); this site answers with ${this.agent.answeringTeachers}: set teachers: ${pinned} in site.yaml (an external teacher_onnx counts as 1)`);
      }
      this.log(`joined run ${reply.runId}`);
    } catch (e) {
      const err = e as Error & { code?: string };
      // A join whose session has been replaced meanwhile is moot: the new session joins again. No
      // answer in time (a connection cut after the join left) is the network's doing: this session
      // is closed, so that the client reconnects and joins again. Anything else — the aggregator's
      // refusal, a welcome this site cannot accept — ends the site's run.
      if (this.client.session !== s) return;
      if (err.code === 'E_REQUEST_TIMEOUT' || !s.isOpen) {
        this.log(`join got no answer (${err.code ?? 'closed'}); reconnecting`);
        if (s.isOpen) s.close(1000, 'join got no answer');
        return;
      }
      this.fail(refusalForOperator(err, this.publicSpec));
    }
  }

  private onMessage(m: SessionMessage, s: SecureSession): void {
    if (m.type === 'query_request') this.enqueue(() => this.answer(m, s));
    else if (m.type === 'consensus') this.enqueue(() => this.digest(m, s));
    else if (m.type === 'bye') {
      // the polite end of the run, announced inside the session before its 1000 close
      if (!this.ended) this.log(`the aggregator ended the run: ${m.reason}`);
      this.finish();
    }
    // a notice about something this site sent (E_REPLY_INVALID, E_METRICS_REFUSED): say why
    // (a channel code is the announcement before a close, which the disconnect line reports)
    else if (m.type === 'error' && m.requestId === undefined && !Object.hasOwn(CHANNEL_ERRORS, m.code)) this.log(`aggregator notice: ${m.code}: ${m.message}`);
  }

  private enqueue(job: () => Promise<void>): void {
    // once stopping, queued queries and consensus are dropped: nothing more is recorded or sent
    this.queue = this.queue.then(async () => {
      if (this.stopping) return;
      this.working = true;
      try { await job(); } finally { this.working = false; }
    }).catch((e) => this.log(`error: ${(e as Error).message}`));
  }

  private stopping = false;
  /** Whether a query or consensus is being handled now. */
  working = false;

  /**
   * Stops taking work (a signal): queued queries and consensus are dropped, and the promise settles
   * once the one in progress is done, so the caller gives back the ledger's lock only when nothing
   * can append to it any more (a restarted client would otherwise be a second writer).
   */
  stop(): Promise<void> {
    this.stopping = true;
    return this.queue;
  }

  private async answer(q: QueryRequest, s: SecureSession): Promise<void> {
    try {
      const asked = queryFingerprint(q);
      const sent = this.sentReplies.get(q.requestId);
      if (sent || this.agent.ledger.has(q.requestId)) {
        if (!sent || sent.asked !== asked) {
          throw new FedistillError('E_QUERY_REPLAYED', `request ${q.requestId} was answered before${sent ? ' for a different query' : ' and its reply is no longer kept'}; answering again would release twice under one ledger entry`);
        }
        (this.client.session ?? s).send(sent.reply);
        return;
      }
      const a = await this.agent.answer({
        runId: this.runId ?? '', round: q.round, requestId: q.requestId, indices: q.indices, replyKind: q.replyKind, params: q.params,
        publicSetHash: q.publicSet.hash, aggregator: encodePublicKey(s.peerPublicKey),
      }, this.central);
      const reply: Outgoing<QueryReply> = {
        type: 'query_reply', requestId: q.requestId, round: q.round, replyKind: q.replyKind, rows: a.rows, cols: a.cols,
        ...(a.votes ? { votes: a.votes } : {}), ...(a.soft ? { soft: a.soft } : {}),
        privacyEvent: a.event as unknown as Record<string, unknown>, stats: { teachers: a.teachers },
      };
      this.sentReplies.set(q.requestId, { asked, reply });
      if (this.sentReplies.size > REPLY_CACHE_SIZE) this.sentReplies.delete(this.sentReplies.keys().next().value!);
      (this.client.session ?? s).send(reply);
    } catch (e) {
      const code = (e as { code?: string }).code?.startsWith('E_') ? (e as { code: string }).code : 'E_SITE_FAILED';
      // the site's operator hears of it too, not only the aggregator (a full disk, E_LEDGER_WRITE, showed nowhere here)
      this.log(`round ${q.round + 1}: query ${q.requestId} not answered: ${code}: ${(e as Error).message}`);
      (this.client.session ?? s).send({ type: 'error', code, message: (e as Error).message.slice(0, 500), requestId: q.requestId });
    }
  }

  private async digest(c: Consensus, s: SecureSession): Promise<void> {
    const bad = consensusProblem(c, this.agent.publicSet);
    if (bad) {
      // refused before it touches the accumulated consensus, which every later round distills from
      this.log(`round ${c.round + 1}: consensus refused: ${bad}`);
      const target = this.client.session ?? s;
      if (target.isOpen) target.send({ type: 'error', code: 'E_CONSENSUS_INVALID', message: `round ${c.round}: ${bad}`.slice(0, 500) });
      return;
    }
    // a restarted aggregator re-sends the round it released before its crash: digested once, its
    // metrics sent again (distilling it twice would weigh that round double, and count it twice)
    // keyed by run, the run of the session it came on (a consensus still queued when the site was
    // welcomed into another run belongs to the old one): a new run_id's rounds are digested afresh
    const run = this.runOfSession.get(s) ?? this.runId ?? '';
    const key = `${run}\n${c.round}`;
    const before = this.digestedRounds.get(key);
    if (before) this.log(`round ${c.round + 1}: consensus re-sent (the aggregator restarted); already digested, its metrics sent again`);
    const metrics = before ?? await this.agent.digest(this.delta, { indices: c.indices, cols: c.cols, ...(c.soft ? { soft: c.soft } : {}), ...(c.labels ? { labels: c.labels } : {}) });
    if (!before) {
      this.digestedRounds.set(key, metrics);
      this.digested++;
      // the local accuracy, whether or not policy.share_metrics sends it
      this.log(`round ${c.round + 1}: digested consensus; accuracy ${this.agent.lastAccuracy?.toFixed(4) ?? 'n/a'}, own ε bound ${(metrics.ledger_epsilon ?? Infinity).toFixed(3)}`);
    }
    // to the run the consensus came from: on the session open now if it is that run's (a reconnect),
    // never to another run's aggregator
    const current = this.client.session;
    const target = current && (this.runOfSession.get(current) ?? this.runId) === run ? current : s;
    try {
      if (target.isOpen) target.send({ type: 'metrics', round: c.round, values: metrics });
    } finally {
      // the last round is digested even when its metrics cannot go out (a session just closed, e.g.
      // E_PEER_NOT_READING): the error is logged, the site's run still ends here
      if (c.round + 1 >= this.rounds) this.finish();
    }
  }

  /** Adds the current session's bytes to the run's (its stats outlive its close). */
  private countBytes(): void {
    const s = this.uncounted;
    this.uncounted = undefined;
    if (s) { this.bytes.sent += s.stats.bytesOut; this.bytes.received += s.stats.bytesIn; }
  }

  private finish(): void {
    this.ended = true;
    this.countBytes();
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

/** The most of a reconnect reason (peer-supplied text, escaped) a log line keeps: the cause and, at its end, what to do. */
const MAX_REASON_CHARS = 400;

/** `text` on one line (control characters escaped) and at most MAX_REASON_CHARS long, cut in the middle so its advice stays. */
export function boundedReason(text: string): string {
  const line = escapeControlChars(text);
  if (line.length <= MAX_REASON_CHARS) return line;
  const tail = Math.floor(MAX_REASON_CHARS * 0.4);
  return `${line.slice(0, MAX_REASON_CHARS - tail - 3)} … ${line.slice(-tail)}`;
}

/**
 * A join refusal as the operator should read it: what is wrong and what to do first, the request
 * id (which the request tracker puts first) last; a public-set refusal also names this site's own set.
 */
function refusalForOperator(err: Error & { code?: string }, publicSpec: string): Error {
  const m = /^peer refused request (\S+): ([\s\S]*)$/.exec(err.message);
  if (!m || !err.code) return err;
  const own = err.code === 'E_PUBLIC_SET_MISMATCH' ? ` (this site's public_set: ${publicSpec})` : '';
  return new FedistillError(err.code, `${m[2]}${own} (the aggregator's answer to join request ${m[1]})`);
}

/** What a query asks, as a string: a repeated request id must ask exactly this again to get the same reply. */
function queryFingerprint(q: QueryRequest): string {
  const hash = createHash('sha256').update(Buffer.from(q.indices.buffer, q.indices.byteOffset, q.indices.byteLength));
  const params = Object.keys(q.params).sort().map((k) => `${k}=${q.params[k]}`).join(',');
  return `${q.round}|${q.replyKind}|${q.publicSet.datasetSpec}|${q.publicSet.hash}|${params}|${hash.digest('hex')}`;
}

/** Why a consensus does not fit this site's public set (indices in range, one column per class), or undefined. */
function consensusProblem(c: Consensus, publicSet: { length: number; numClasses: number }): string | undefined {
  if (c.cols !== publicSet.numClasses) return `it has ${c.cols} columns; the public set has ${publicSet.numClasses} classes`;
  for (let i = 0; i < c.indices.length; i++) {
    if (c.indices[i]! >= publicSet.length) return `index ${c.indices[i]} is outside the public set (${publicSet.length} samples)`;
  }
  return undefined;
}
