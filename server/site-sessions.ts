// A run's site sessions: each one's join (welcomed or refused), metrics, leave and close, and the bytes each moved.
import type { SecureSession } from '../shared/channel/secure-session.ts';
import type { SessionMessage } from '../protocols/messages.ts';
import { ChannelError } from '../protocols/error-catalogue.ts';
import { isDatabaseWriteFailure, type RunDatabase } from './run-database.ts';
import type { RunConfig } from './run-config.ts';
import type { RunSites } from './site-scopes.ts';
import type { Strategy } from './strategies/strategy.ts';

/** What the sessions need from the run around them; the round loop (Aggregator) provides it. */
export interface SiteSessionsOptions {
  db: Pick<RunDatabase, 'recordSite' | 'putMetrics'>;
  config: RunConfig;
  /** What the Welcome says of the strategy. */
  strategy: Pick<Strategy, 'name' | 'replyKind'>;
  /** The run's public set: a joining site's must hash the same. */
  publicSet: { spec: string; hash: string; numClasses: number };
  /** The live session of a site (a reconnect replaces it), and every connected site, to end the run in each. */
  hub: { session(siteName: string): SecureSession | undefined; readonly connectedSites: string[] };
  /** The run's audit record of its sites: told of every welcomed join. */
  sites: Pick<RunSites, 'joined'>;
  /** Extra fields sites get in their Welcome (model hints, eval set...). */
  welcomeExtras?: Record<string, unknown>;
  /** Writes a line to the run's log; the caller escapes site-controlled text. */
  log: (line: string) => void;
  /** Wakes a round loop waiting on the sites: something it waits for (a join, metrics, a leave, a close) happened. */
  wake: () => void;
  /**
   * A failure the run cannot go on after (the database cannot be written, E_DB_WRITE): the round
   * loop stops with it. Without it a site's join went unanswered, and the run ended much later in
   * E_QUORUM_TIMEOUT naming sites that were all connected.
   */
  fail: (e: Error) => void;
}

/**
 * The sessions of a run's sites, as the round loop sees them: who has joined (and is live), the
 * metrics sites send for the round whose consensus is out, and the bytes each site moved. A session
 * is handled from its first message to its close; the round loop asks, and never reads a session's messages.
 */
export class SiteSessions {
  private readonly o: SiteSessionsOptions;
  private readonly joined = new Set<string>();
  private readonly pendingMetrics = new Map<string, Map<string, Record<string, number>>>();
  /** Keyed by site name without a prototype: an allowlisted name may be "constructor" or "toString". */
  private readonly bytes: Record<string, { sent: number; received: number }> = Object.create(null);
  /** Sessions whose traffic is not in `bytes` yet: each is counted once, at its close or at the end of the run. */
  private readonly uncounted = new Set<SecureSession>();
  /** The round whose consensus is out and whose metrics are awaited (-1: none); other rounds' metrics are refused. */
  private metricsRound = -1;
  /** That round's participants: the only sites whose metrics it accepts. */
  private metricsFrom: ReadonlySet<string> = new Set();
  /** Set once the run has ended for good (complete, budget_exhausted): why, as the sites are told. */
  private endedReason: string | undefined;

  constructor(o: SiteSessionsOptions) {
    this.o = o;
  }

  /** Sites that joined and have not left (connected or not): the run's sites, for its audit log. */
  get joinedSites(): ReadonlySet<string> {
    return this.joined;
  }

  /** Joined sites whose session is open, sorted: the ones a round can ask. */
  liveSites(): string[] {
    return [...this.joined].filter((s) => this.o.hub.session(s)?.isOpen).sort();
  }

  /** Handles a new session: join → welcome, metrics → store. */
  attach(s: SecureSession): void {
    const { config, publicSet, db } = this.o;
    let joinedHere = false;
    /** This session's join was welcomed: its close is a departure from the run, worth a line. */
    let welcomed = false;
    /** Why the site said it leaves (its Leave), for the departure line. */
    let leaveReason: string | undefined;
    const refuse = (m: { requestId: string }, code: 'E_SITE_NAME_MISMATCH' | 'E_PUBLIC_SET_MISMATCH', message: string): void => {
      // the site stops on a refusal: without this line, its operator alone would know why
      this.o.log(`site ${s.siteName} refused at join: ${code}: ${message}`);
      s.send({ type: 'error', code, requestId: m.requestId, message });
    };
    s.on('message', (m: SessionMessage) => {
      try {
        if (m.type === 'join') {
          // a site that reconnects after the run ended is told so, politely (bye, 1000): it stops
          if (this.endedReason) return s.close(1000, this.endedReason);
          // A site joins once per session (a reconnect is a new session): each repeat costs a
          // database write and a welcome, so repeats count against the site's channel budget.
          if (joinedHere) s.reportUnsolicited('second join on one session');
          joinedHere = true;
          if (m.siteName !== s.siteName) {
            // the name keys the site's own ledger file and its audit scope: a site using another's would mix them up
            return refuse(m, 'E_SITE_NAME_MISMATCH', `this site's key is allowlisted as "${s.siteName}", but it calls itself "${m.siteName.slice(0, 64)}"; set name: ${s.siteName} in its site.yaml (or fix the allowlist)`);
          }
          const theirs = m.datasetHashes.public_set;
          if (theirs !== publicSet.hash) {
            return refuse(m, 'E_PUBLIC_SET_MISMATCH', `the run's public set is ${publicSet.spec} (hash ${publicSet.hash}); this site's public set hashes to ${theirs === undefined ? 'nothing (none sent)' : theirs.slice(0, 100)}: set public_set: ${publicSet.spec} in its site.yaml, or check the run config's public_set if the run's is wrong`);
          }
          db.recordSite(config.runId, s.siteName, Buffer.from(s.peerPublicKey).toString('hex'));
          this.o.sites.joined(s.siteName, { public_key: Buffer.from(s.peerPublicKey).toString('base64'), fingerprint: s.peerFingerprint }, !this.joined.has(s.siteName));
          this.joined.add(s.siteName);
          welcomed = true;
          s.send({ type: 'welcome', requestId: m.requestId, runId: config.runId, config: this.welcomeConfig() });
          this.o.log(`site ${s.siteName} joined (${this.joined.size} joined)`);
          this.o.wake();
        } else if (m.type === 'metrics') {
          // Only a joined site, only a participant of the round whose consensus is out, once: anything
          // else would let a site write rows for rounds that never ran or it took no part in (and
          // have them signed into the round's result), or pre-empt a round's metrics (its reports
          // would count towards the quorum that starts the participants' straggler grace).
          const per = this.pendingMetrics.get(String(m.round));
          if (!this.joined.has(s.siteName) || m.round !== this.metricsRound || !per || per.has(s.siteName) || !this.metricsFrom.has(s.siteName)) {
            const why = !this.joined.has(s.siteName) ? 'join the run first'
              : m.round === this.metricsRound && per && !per.has(s.siteName) ? `this site is not a participant of round ${m.round} (its reply was not aggregated)`
                : `metrics are accepted once, for the round whose consensus was sent (${this.metricsRound < 0 ? 'none now' : `round ${this.metricsRound}`})`;
            s.send({ type: 'error', code: 'E_METRICS_REFUSED', message: `metrics for round ${m.round} refused: ${why}` });
            return;
          }
          per.set(s.siteName, m.values);
          db.putMetrics(config.runId, m.round, `site:${s.siteName}`, m.values);
          this.o.wake();
        } else if (m.type === 'leave') {
          if (m.reason) leaveReason = m.reason.slice(0, 300);
          this.joined.delete(s.siteName);
          this.o.wake();
        } else if (m.type === 'query_request' || m.type === 'consensus') {
          s.closeWithError(new ChannelError('E_PROTOCOL', `sites do not send ${m.type}; only the aggregator does`));
        }
      } catch (e) {
        this.o.log(`message from ${s.siteName} failed: ${(e as Error).message}`);
        // a write the database refused, as the round loop's writes are: the run cannot go on
        if (isDatabaseWriteFailure(e)) this.o.fail(e as Error);
      }
    });
    this.uncounted.add(s);
    s.on('close', (info) => {
      this.countBytes(s);
      // A joined site going away mid-run (a crash, a kill, a stop, a network cut) gets one line, so
      // the operator sees who is gone before a round comes up short. Not the run's own end (bye and
      // 1000 from here), not a stopping aggregator, not a session its site has already replaced.
      const ours = info.local && (info.code === 1000 || info.errorCode === 'E_SERVER_CLOSING');
      const current = this.o.hub.session(s.siteName);
      const departed = welcomed && !ours && (current === undefined || current === s) && !this.endedReason;
      const still = (): string => `${this.liveSites().filter((n) => n !== s.siteName).length} still connected`;
      if (info.code >= 4000 && info.errorCode !== 'E_SERVER_CLOSING') {
        // closes for cause (a budget, a protocol error) name the reason an operator acts on
        this.o.log(`site ${s.siteName} session closed${info.local ? '' : ' by the site'}: ${info.reason || info.errorCode || info.code}${departed ? `; ${still()}` : ''}`);
      } else if (departed) {
        const why = leaveReason ?? (info.reason || info.errorCode || '').slice(0, 200);
        this.o.log(`site ${s.siteName} left (${info.code}${why ? `: ${why}` : ''}): ${still()}`);
      }
      this.o.wake();
    });
  }

  private welcomeConfig(): Record<string, unknown> {
    const { config, publicSet, strategy } = this.o;
    return {
      strategy: strategy.name,
      reply_kind: strategy.replyKind,
      public_set: { spec: publicSet.spec, hash: publicSet.hash },
      num_classes: publicSet.numClasses,
      rounds: config.rounds,
      privacy: config.strategy.name === 'pate'
        ? { threshold: config.strategy.threshold, sigma1: config.strategy.sigma1, sigma2: config.strategy.sigma2, delta: config.privacy.delta }
        : { noise_multiplier: config.privacy.noiseMultiplier, clip: config.privacy.clip, delta: config.privacy.delta },
      // a reply with another stats.teachers is refused (E_REPLY_INVALID): the run, not the site, sets a site's weight
      teachers_per_site: config.privacy.teachersPerSite,
      ...this.o.welcomeExtras,
    };
  }

  /**
   * Tells a site something about its part in the run (an error message with no request id: a
   * notice its log shows; the session stays open). False when the site has no open session.
   */
  notice(site: string, code: string, message: string): boolean {
    try {
      const s = this.o.hub.session(site);
      if (!s?.isOpen) return false;
      s.send({ type: 'error', code, message });
      return true;
    } catch {
      return false;
    }
  }

  /** The run ended for good: every session, and any site that joins later, is told `reason` (bye, then close 1000). */
  endRun(reason: string): void {
    this.endedReason = reason;
    for (const name of this.o.hub.connectedSites) this.o.hub.session(name)?.close(1000, this.endedReason);
  }

  /** `round`'s consensus is going out: its participants' metrics are accepted from now on, and no one else's, for no other round. */
  openMetrics(round: number, participants: Iterable<string>): void {
    // Metrics are accepted for this round only, until it is recorded; older rounds' entries are dropped.
    this.pendingMetrics.clear();
    this.pendingMetrics.set(String(round), new Map());
    this.metricsRound = round;
    this.metricsFrom = new Set(participants);
  }

  /** The metrics received so far for `round`, by site. */
  metricsReceived(round: number): Map<string, Record<string, number>> {
    return this.pendingMetrics.get(String(round)) ?? new Map();
  }

  /** The round is recorded: metrics sent from now on are refused. */
  closeMetrics(): void {
    this.metricsRound = -1;
    this.metricsFrom = new Set();
  }

  /** Adds a session's traffic to its site's total, once per session. */
  private countBytes(s: SecureSession): void {
    if (!this.uncounted.delete(s)) return;
    const b = (this.bytes[s.siteName] ??= { sent: 0, received: 0 });
    b.sent += s.stats.bytesOut;
    b.received += s.stats.bytesIn;
  }

  /** At the end of a run: counts every session not counted at its close (open ones, and ones already closing whose close event has not fired yet). */
  countUncountedSessions(): void {
    for (const s of [...this.uncounted]) this.countBytes(s);
  }

  /** Bytes sent and received per site so far (a copy). */
  traffic(): Record<string, { sent: number; received: number }> {
    return structuredClone(this.bytes);
  }
}
