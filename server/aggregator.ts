// The round loop: waits for sites, asks a strategy what to query, collects replies, charges the
// ledger and records the release in one transaction, then sends the consensus. Resumes from the database.
import { RunSites, SITE_SCOPE } from './site-scopes.ts';
import { SiteSessions } from './site-sessions.ts';
import { DEFAULT_RECONNECT_POLICY } from '../shared/channel/reconnect-backoff.ts';
import { dpAccountingOrders } from '../shared/privacy/orders.ts';
import { createHash } from 'node:crypto';
import { PrivacyLedger } from '../shared/privacy/ledger.ts';
import { CryptoRng } from '../shared/privacy/rng.ts';
import { SeededRng } from '../shared/util/prng.ts';
import { FedistillError } from '../shared/util/errors.ts';
import { escapeControlChars } from '../shared/util/log-text.ts';
import { queryRequestId, replyProblem, siteEventOf } from './site-reply-checks.ts';
import type { PrivacyEvent } from '../shared/privacy/events.ts';
import { RELEASE_GRID } from '../shared/privacy/grid-gaussian.ts';
import { type RoundRelease, SITE_FAILURE_REASONS, type SiteFailure, type SiteReply, type Strategy, type StrategyContext, rowsPerRound } from './strategies/strategy.ts';
import { decodeRelease } from './release-codec.ts';
import { roundCharge } from './run-plan.ts';
import { SiteBudgets } from './run-site-budgets.ts';
import { releaseRound } from './run-release.ts';
import type { AggregatorOptions, RoundReport, RunSummary } from './aggregator-types.ts';
import { siteMapFields } from '../shared/audit/site-map-budget.ts';

export type { AggregatorOptions, PublicSetRef, RoundReport, RunSummary, SiteHub } from './aggregator-types.ts';

const RUN_SCOPE = (runId: string) => `run:${runId}`;

export class Aggregator {
  private readonly o: AggregatorOptions;
  private readonly ledger: PrivacyLedger;
  private readonly sites: RunSites;
  private readonly sessions: SiteSessions;
  private readonly budgets: SiteBudgets;
  private readonly waiters: (() => void)[] = [];
  /** Set when handling a site's message hit a failure the run cannot go on after (E_DB_WRITE). */
  private failure: Error | undefined;
  private stopped = false;

  constructor(o: AggregatorOptions) {
    this.o = o;
    this.ledger = new PrivacyLedger(o.db, { orders: dpAccountingOrders(), conversion: 'improved' });
    this.sites = new RunSites({ db: o.db, config: o.config, ledger: this.ledger, audit: o.audit });
    this.sessions = new SiteSessions({
      db: o.db, config: o.config, strategy: o.strategy, publicSet: o.publicSet, hub: o.hub, sites: this.sites,
      welcomeExtras: o.welcomeExtras, log: (line) => this.log(line), wake: () => this.wake(),
      fail: (e) => { this.failure ??= e; this.wake(); },
    });
    o.hub.on('session', (s) => this.sessions.attach(s));
    this.budgets = new SiteBudgets({
      db: o.db, ledger: this.ledger, runId: o.config.runId, runScope: RUN_SCOPE(o.config.runId), audit: o.audit, log: (line) => this.log(line),
      roundEvent: roundCharge(o.config, o.publicSet.numClasses, o.publicSet.length).event,
      stopBeforeQuerying: !(o.config.strategy.name === 'pate' && o.config.strategy.accounting === 'data-dependent'),
      notify: (site, code, message) => this.sessions.notice(site, code, message),
    });
  }

  /** Every line is escaped: site-controlled text (error messages, close reasons) cannot forge log lines or drive a terminal. */
  private log(line: string): void {
    this.o.log?.(escapeControlChars(line));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Sleeps `ms`, or less if the run is stopped; unlike waitForChange, a site's messages do not cut it short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const check = setInterval(() => { if (this.stopped) done(); }, Math.min(ms, 100));
      function done(): void { clearTimeout(t); clearInterval(check); resolve(); }
    });
  }

  /** Waits for something the loop waits on, at most `ms`; rejects with a failure the run cannot go on after (SiteSessions' fail). */
  private waitForChange(ms: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const settle = () => (this.failure ? reject(this.failure) : resolve());
      const t = setTimeout(settle, ms);
      this.waiters.push(() => { clearTimeout(t); settle(); });
    });
  }

  /**
   * After run(): a run that ended for good (complete, budget_exhausted) is announced inside every
   * session (bye, then close 1000), and to any site that joins later, so sites stop. A stopped or
   * stalled run is left to the server's close (E_SERVER_CLOSING): sites keep retrying, and a
   * restart resumes the run with them.
   */
  endRun(summary: Pick<RunSummary, 'runId' | 'status'>, o: { evenIfResumable?: boolean } = {}): void {
    // a simulation that owns every site ends them whatever the status (evenIfResumable)
    if (summary.status !== 'complete' && summary.status !== 'budget_exhausted' && !o.evenIfResumable) return;
    this.sessions.endRun(`run ${summary.runId} ended: ${summary.status}`);
  }

  /**
   * After endRun() of a run that had already ended when this process started: keeps answering for
   * `ms` (or until stop()), so that sites still retrying (the aggregator was stopped before it could
   * tell them the run was over) reconnect and are told, instead of retrying for ever.
   */
  async tellLateSites(ms: number): Promise<void> {
    await this.pause(ms);
  }

  /** Asks the loop to stop after the current step (SIGINT/SIGTERM). */
  stop(): void {
    this.stopped = true;
    this.wake();
  }

  /**
   * Waits for `min` live sites (of `among`, when given: those whose budget can pay for the round).
   * Deadlines here and below are on the monotonic clock: an NTP step must not expire or extend them.
   */
  private async waitForSites(min: number, timeoutMs: number, among?: ReadonlySet<string>): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const live = () => this.sessions.liveSites().filter((s) => !among || among.has(s)).length;
    while (live() < min && !this.stopped) {
      if (performance.now() > deadline) {
        // among the sites that can pay: name those missing (the "connected" list the caller adds may hold sites that cannot pay)
        const missing = among ? [...among].filter((s) => !this.sessions.liveSites().includes(s)).sort() : [];
        throw new FedistillError('E_QUORUM_TIMEOUT', `only ${live()} of ${min} sites ${among ? 'that can still pay for a round ' : ''}joined within ${Math.round(timeoutMs / 1000)} s${missing.length ? ` (missing of those that can pay: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''})` : ''}`);
      }
      await this.waitForChange(Math.min(1000, deadline - performance.now()));
    }
  }

  /**
   * The wait before the first new round after a restart, once rounds have run: min_sites for as long
   * as live sites take to reconnect (RESEND_WAIT_MS, or join_timeout_s if shorter), then quorum, as
   * every round needs. min_sites is the wait before round 1: a site removed from the allowlist
   * meanwhile, or still down, must not stall the run until join_timeout_s and fail E_QUORUM_TIMEOUT.
   */
  private async waitAfterRestart(): Promise<void> {
    const { minSites, quorum, joinTimeoutMs } = this.o.config;
    const grace = Math.min(joinTimeoutMs, RESEND_WAIT_MS);
    const deadline = performance.now() + grace;
    const live = () => this.sessions.liveSites().length;
    while (live() < minSites && !this.stopped && performance.now() < deadline) await this.waitForChange(Math.min(1000, deadline - performance.now()));
    if (live() < minSites && !this.stopped) {
      this.log(`going on with ${live()} of min_sites ${minSites} sites after ${Math.round(grace / 1000)} s (quorum ${quorum}): min_sites is the wait before round 1; the others take part once they reconnect`);
    }
    await this.waitForSites(quorum, joinTimeoutMs);
  }

  /**
   * Waits up to `timeoutMs` for every site in `sites` to be live (a stored release's participants
   * rejoining after a restart); returns those that are. Never throws: whoever is missing goes without.
   */
  private async waitForParticipants(sites: string[], timeoutMs: number): Promise<string[]> {
    const deadline = performance.now() + timeoutMs;
    const live = () => sites.filter((s) => this.sessions.liveSites().includes(s));
    while (live().length < sites.length && !this.stopped && performance.now() < deadline) {
      await this.waitForChange(Math.min(1000, deadline - performance.now()));
    }
    return live();
  }

  /** Runs (or resumes) the run to its last round, or until the budget or a stop ends it. */
  async run(): Promise<RunSummary> {
    const { db, config, strategy, publicSet } = this.o;
    const configJson = JSON.stringify(config);
    const hash = createHash('sha256').update(configJson).digest('hex');
    const existing = db.getRun(config.runId);
    if (!existing) {
      const rows = rowsPerRound(config.strategy.queriesPerRound, publicSet.length);
      db.transaction(() => {
        db.createRun(config.runId, configJson, hash);
        this.ledger.setBudget(RUN_SCOPE(config.runId), { epsilon: config.privacy.epsilon, delta: config.privacy.delta });
        this.o.audit?.append({ kind: 'run_started', runId: config.runId, data: {
          budgets: { [RUN_SCOPE(config.runId)]: { epsilon: config.privacy.epsilon, delta: config.privacy.delta } },
          delta: config.privacy.delta, config_sha256: hash, strategy: strategy.name,
          // The accountant's settings, written out: the log replays the same way if defaults ever change.
          accounting: { orders: dpAccountingOrders(), conversion: 'improved' },
          // what one unit of privacy is: ε means nothing without it (one teacher per site: a site's data)
          privacy_unit: { unit: config.privacy.teachersPerSite > 1 ? 'example' : 'site', teachers_per_site: config.privacy.teachersPerSite },
          // What every release's mechanism record must match (audit verify checks it).
          mechanism_params: config.strategy.name === 'pate'
            ? {
              kind: 'confident_gnmax', threshold: config.strategy.threshold, sigma1: config.strategy.sigma1, sigma2: config.strategy.sigma2, accounting: config.strategy.accounting,
              queries_per_round: rows,
            }
            : {
              kind: 'gaussian_rows', clip: config.privacy.clip, noise_multiplier: config.privacy.noiseMultiplier, teachers_per_site: config.privacy.teachersPerSite, domain: 'probabilities',
              rows_per_round: rows, cols: publicSet.numClasses, grid: RELEASE_GRID,
            },
        } });
      });
    } else if (existing.status === 'budget_exhausted' || (existing.status === 'complete' && db.lastCompletedRound(config.runId) + 1 >= config.rounds)) {
      // nothing to wait for and nothing to log again (its run_finished is already in the audit log),
      // unless an older build stopped between ending the run and logging it: finish the log now
      this.log(`run ${config.runId} already ended (${existing.status}); nothing to do`);
      const spent = this.ledger.spent(RUN_SCOPE(config.runId));
      if (this.o.audit && this.o.audit.entries(config.runId).at(-1)?.kind !== 'run_finished') {
        this.o.audit.append({ kind: 'run_finished', runId: config.runId, data: { status: existing.status, epsilon: spent.epsilon, delta: spent.delta } });
        this.log(`run ${config.runId}: its audit log lacked the run_finished entry (a stop between ending the run and logging it); written now`);
      }
      return { runId: config.runId, status: existing.status, rounds: [], epsilon: spent.epsilon, delta: spent.delta, bytes: this.sessions.traffic(), alreadyEnded: true };
    } else if (existing.status === 'complete') {
      this.log(`run ${config.runId} completed ${db.lastCompletedRound(config.runId) + 1} round(s); extending it to ${config.rounds}`);
      // running again until this start ends it: an extension cut short (kill -9, a failed wait) is then
      // restarted as the stopped run it is, not taken for a fresh extension every time
      db.setRunStatus(config.runId, 'running');
    } else if (existing.status === 'stalled') {
      this.log(`run ${config.runId} stalled before (a round stayed below quorum); trying again`);
    }
    // Sites that joined before the run record existed enter this run's log now.
    this.sites.runStarted(this.sessions.joinedSites);
    const ctxBase = { publicSize: publicSet.length, numClasses: publicSet.numClasses, noise: new CryptoRng() };
    const reports: RoundReport[] = [];
    let status: RunSummary['status'] = existing?.status === 'budget_exhausted' ? 'budget_exhausted' : 'complete';
    const start = db.lastCompletedRound(config.runId) + 1;
    if (start > 0) this.log(`resuming run ${config.runId} at round ${start + 1}/${config.rounds}`);
    // A round released before a crash is re-sent, not asked again: it waits (bounded) for its
    // participants, not for min_sites. After the last round's consensus went out the sites have
    // digested it and exited, so waiting for them would end the run in E_QUORUM_TIMEOUT, never complete.
    const resending = this.storedRelease(start) !== undefined && start < config.rounds;
    // rounds ran before this process and its sites may still be retrying (a stopped, crashed or
    // stalled run): the next new round waits for min_sites only as long as live sites take to
    // reconnect, then goes on with quorum (waitAfterRestart). A completed run being extended has no
    // such sites (they exited at its end): it waits for min_sites as before round 1.
    let restarted = (start > 0 || resending) && existing?.status !== 'complete';
    // A run that cannot pay for its next round ends now, not after waiting for sites it could not use.
    if (!resending && status === 'complete' && start < config.rounds && this.budgets.runRefusal(start)) {
      status = 'budget_exhausted';
    } else if (!resending && start < config.rounds) {
      // (a run stopped while its last round's consensus went out has no round left: it ends now,
      // not after waiting for sites that digested that round and exited)
      if (restarted) { await this.waitAfterRestart(); restarted = false; } else await this.waitForSites(config.minSites, config.joinTimeoutMs);
    }
    // Attempts of the current round: each gets its own request ids (a site's tracker refuses a
    // reused id), and a failed attempt backs off, so a round below quorum never spins the event loop.
    // Numbering goes on from the attempts that failed before a restart; an attempt cut by a crash is
    // asked again under its ids (sites answer it from their cache, without a second release).
    let attempt = 0;
    let triesHere = 0;
    let attemptRound = -1;
    let stalled: RunSummary['stalled'];
    for (let round = start; round < config.rounds && status === 'complete'; round++) {
      if (this.failure) throw this.failure;
      if (this.stopped) { status = 'stopped'; break; }
      if (round !== attemptRound) { attemptRound = round; attempt = db.failedAttempts(config.runId, round); triesHere = 0; } else {
        attempt++;
        triesHere++;
        await this.pause(Math.min(RETRY_MAX_DELAY_MS, config.roundTimeoutMs, RETRY_BASE_DELAY_MS * 2 ** Math.min(triesHere - 1, 10)));
        if (this.stopped) { status = 'stopped'; break; }
      }
      // Query selection is seeded per round, so a resumed round asks the same samples.
      const ctx: StrategyContext = { ...ctxBase, rng: new SeededRng(config.seed * 100_003 + round) };
      const plan = strategy.configureRound(round, ctx);
      db.startRound(config.runId, round);
      const stored = this.storedRelease(round);
      let release: RoundRelease | undefined = stored;
      let resumed = stored !== undefined;
      let participants: string[] = stored?.participants ?? [];
      let failures: SiteFailure[] = stored?.failures ?? [];
      if (!release) {
        // A run that cannot pay for the round's most expensive charge stops before anyone is asked
        // (and before waiting for sites it could not use).
        if (this.budgets.runRefusal(round)) {
          status = 'budget_exhausted';
          break;
        }
        if (restarted) { await this.waitAfterRestart(); restarted = false; } else await this.waitForSites(config.quorum, config.joinTimeoutMs);
        // Sites whose own scope (charged in earlier runs too) cannot pay for the round are left out; the others go on.
        // Allowlisted sites that have not joined yet count: they may still come (the wait below times out, resumably).
        const known = [...new Set([...(this.o.hub.allowlistedSites ?? []), ...db.sites(config.runId).map((s) => s.site), ...this.sessions.liveSites()])];
        const able = new Set(this.budgets.affordable(round, known, this.sessions.liveSites()));
        if (able.size < config.quorum) {
          this.log(`round ${round + 1}: only ${able.size} of the run's ${known.length} sites can still pay for a round (quorum ${config.quorum}; left out: ${this.budgets.excludedSites.join(', ')}); stopping the run before querying`);
          status = 'budget_exhausted';
          break;
        }
        await this.waitForSites(config.quorum, config.joinTimeoutMs, able);
        const got = await this.collect(plan, round, attempt, able);
        failures = got.failures;
        const out = releaseRound(
          { db, config, strategy, ledger: this.ledger, runScope: RUN_SCOPE(config.runId), budgets: this.budgets, audit: this.o.audit },
          { plan, round, ctx, replies: got.replies, failures, siteEvents: got.siteEvents },
        );
        if (out.status === 'nothing') {
          // Each attempt is a new query that every honest site answers and charges to its own
          // ledger: a site that keeps the round below quorum may not make that go on forever.
          db.setFailedAttempts(config.runId, round, attempt + 1);
          const short = `${got.replies.length} usable replies, quorum ${config.quorum}${got.replies.length >= config.quorum ? `; ${strategy.name} released nothing` : ''}`;
          if (triesHere + 1 >= config.maxRoundAttempts) {
            stalled = { round, attempts: triesHere + 1, replies: got.replies.length, quorum: config.quorum, failures };
            this.log(`round ${round + 1}: E_ROUND_STALLED: no release after ${triesHere + 1} attempt(s) (last: ${short}); stopping the run. Fix or remove the failing sites named above, then restart with the same config to resume, or raise max_round_attempts`);
            status = 'stalled';
            break;
          }
          this.log(`round ${round + 1}: ${short}; retrying (attempt ${triesHere + 2} of ${config.maxRoundAttempts})`);
          round--;
          continue;
        }
        if (out.status === 'budget_exhausted') {
          this.log(`round ${round + 1}: ${out.reason}; stopping the run before releasing`);
          status = 'budget_exhausted';
          break;
        }
        participants = out.participants;
        release = out.release;
        resumed = false;
      } else {
        const live = await this.waitForParticipants(participants, Math.min(config.joinTimeoutMs, RESEND_WAIT_MS));
        this.log(`round ${round + 1}: release found in the database; re-sending it to ${live.length} of its ${participants.length} participant(s)` +
          (live.length < participants.length ? ` (${participants.filter((p) => !live.includes(p)).join(', ')} did not rejoin in time: they may have digested it already)` : ''));
      }
      if (!release) continue;
      const siteMetrics = await this.broadcast(release, participants, config.roundTimeoutMs);
      const eps = this.ledger.spent(RUN_SCOPE(config.runId)).epsilon;
      const metrics = { ...release.metrics, epsilon: eps };
      db.putMetrics(config.runId, round, 'aggregator', metrics);
      db.transaction(() => {
        db.completeRound(config.runId, round, metrics);
        // the asked sites that failed: a site's ledger may hold a reply recorded and never aggregated
        // (it crashed before sending, or was cut off), which `audit compare` reads here
        const failed = failures.map((f) => ({ site: f.site, reason: f.reason })).sort((a, b) => (a.site < b.site ? -1 : a.site > b.site ? 1 : 0));
        const rest = { metrics, participants, ...(failed.length ? { failures: failed } : {}) };
        // metrics the entry leaves out for size stay in the database's metrics table
        this.o.audit?.append({ kind: 'round_result', runId: config.runId, round, data: { ...rest, ...siteMapFields('site_metrics', siteMetrics, rest) } });
      });
      reports.push({ round, participants, failures, epsilon: eps, metrics, siteMetrics, resumed });
      this.log(`round ${round + 1}/${config.rounds}: ${participants.length} sites, ε = ${eps.toFixed(3)}` +
        (accuracies(siteMetrics).length ? `, mean site accuracy ${mean(accuracies(siteMetrics)).toFixed(4)}` : ''));
    }
    if (status === 'complete' && this.stopped) status = 'stopped';
    this.sessions.countUncountedSessions();
    const spent = this.ledger.spent(RUN_SCOPE(config.runId));
    // The run's end and its run_finished entry in one transaction: a stop between two writes left an
    // ended run whose log was never finished (every restart found it ended, with nothing to do).
    db.transaction(() => {
      db.setRunStatus(config.runId, status === 'stopped' ? 'running' : status);
      if (status !== 'stopped') this.o.audit?.append({ kind: 'run_finished', runId: config.runId, data: {
        status, epsilon: spent.epsilon, delta: spent.delta,
        ...(stalled ? { round: stalled.round, attempts: stalled.attempts, replies: stalled.replies, quorum: stalled.quorum } : {}),
      } });
    });
    return { runId: config.runId, status, rounds: reports, epsilon: spent.epsilon, delta: spent.delta, bytes: this.sessions.traffic(), ...(stalled ? { stalled } : {}) };
  }

  private storedRelease(round: number): (RoundRelease & { participants: string[]; failures: SiteFailure[] }) | undefined {
    const row = this.o.db.getRelease(this.o.config.runId, round);
    if (!row) return undefined;
    // the attempt's failures, as releaseRound stored them (none in databases of older builds)
    const failed = (row.summary as { failed?: unknown }).failed;
    const failures = Array.isArray(failed)
      ? failed.filter((f): f is SiteFailure => typeof f?.site === 'string' && SITE_FAILURE_REASONS.includes(f?.reason))
        .map((f) => ({ site: f.site, reason: f.reason }))
      : [];
    return { ...decodeRelease(row.payload), failures };
  }

  /** Sends the query to every live site of `able`; gathers replies until all answered or the round times out. */
  private async collect(plan: ReturnType<Strategy['configureRound']>, round: number, attempt: number, able: ReadonlySet<string>): Promise<{ replies: SiteReply[]; failures: SiteFailure[]; siteEvents: Record<string, PrivacyEvent> }> {
    const { config, publicSet, hub } = this.o;
    const sites = this.sessions.liveSites().filter((s) => able.has(s));
    const replies: SiteReply[] = [];
    const failures: SiteFailure[] = [];
    // a Map: a site's name (allowlisted, chosen by its operator) may be "toString" or "constructor"
    const siteEvents = new Map<string, PrivacyEvent>();
    // Straggler cut-off: once a quorum has replied, wait at most stragglerGraceMs for the rest.
    let quorumReached!: () => void;
    const quorum = new Promise<void>((resolve) => { quorumReached = resolve; });
    const cutoff = quorum.then(() => new Promise<'cutoff'>((resolve) => setTimeout(() => resolve('cutoff'), config.stragglerGraceMs).unref()));
    const answered = new Set<string>();
    // A refused reply makes the site a failure for this round; the site is told why (a notice, no request id).
    const refuse = (site: string, why: string): void => {
      failures.push({ site, reason: 'invalid', detail: `E_REPLY_INVALID: ${why}` });
      try {
        const s = hub.session(site);
        if (s?.isOpen) s.send({ type: 'error', code: 'E_REPLY_INVALID', message: `round ${round}: reply refused: ${why}`.slice(0, 500) });
      } catch { /* the failure is recorded either way */ }
    };
    const all = Promise.all(sites.map(async (site) => {
      try {
        const reply = await hub.request(site, {
          type: 'query_request', requestId: queryRequestId(config.runId, round, attempt, site), round,
          publicSet: { datasetSpec: publicSet.spec, hash: publicSet.hash }, indices: plan.indices, replyKind: plan.replyKind, params: plan.params,
        }, { timeoutMs: config.roundTimeoutMs });
        if (reply.type !== 'query_reply') throw new FedistillError('E_SITE_ERROR', reply.type === 'error' ? `${reply.code}: ${reply.message}` : `unexpected ${reply.type}`);
        if (reply.round !== round || reply.rows !== plan.indices.length || reply.cols !== publicSet.numClasses || reply.replyKind !== plan.replyKind) {
          refuse(site, `reply shape ${reply.rows}×${reply.cols} ${reply.replyKind} does not match the query`);
          return;
        }
        // the run pins every site's weight; a site declaring another teacher count is refused, not trusted
        const teachers = config.privacy.teachersPerSite;
        const bad = replyProblem(reply.votes, reply.rows, reply.cols, reply.stats?.teachers, teachers);
        if (bad) {
          refuse(site, bad);
          return;
        }
        if (reply.privacyEvent) {
          const recorded = siteEventOf(reply.privacyEvent, site);
          if ('problem' in recorded) {
            refuse(site, recorded.problem);
            return;
          }
          siteEvents.set(site, recorded.event);
        }
        replies.push({
          site, rows: reply.rows, cols: reply.cols, teachers,
          ...(reply.votes ? { votes: Int32Array.from(reply.votes) } : {}),
          ...(reply.soft ? { soft: reply.soft } : {}),
        });
      } catch (e) {
        const code = (e as FedistillError).code ?? '';
        failures.push({ site, reason: code === 'E_REQUEST_TIMEOUT' ? 'timeout' : code === 'E_NOT_CONNECTED' || code === 'E_SESSION_CLOSED' ? 'disconnected' : 'error', detail: (e as Error).message });
      } finally {
        answered.add(site);
        if (replies.length >= config.quorum) quorumReached();
      }
    }));
    if ((await Promise.race([all.then(() => 'all' as const), cutoff])) === 'cutoff') {
      for (const site of sites) if (!answered.has(site)) failures.push({ site, reason: 'timeout', detail: `straggler: cut off ${config.stragglerGraceMs} ms after the quorum replied` });
    }
    // Late replies after the cut-off are ignored: freeze the lists now.
    const out = { replies: [...replies], failures: [...failures] };
    out.replies.sort((a, b) => a.site.localeCompare(b.site));
    for (const f of out.failures) this.log(`round ${round + 1}: ${f.site} ${f.reason}${f.detail ? ` (${f.detail})` : ''}`);
    const events = Object.fromEntries(out.replies.flatMap((r) => (siteEvents.has(r.site) ? [[r.site, siteEvents.get(r.site)!] as const] : [])));
    return { replies: out.replies, failures: out.failures, siteEvents: events };
  }

  /** Sends the consensus to the participants and waits (bounded) for their metrics. */
  private async broadcast(r: RoundRelease, participants: string[], timeoutMs: number): Promise<Record<string, Record<string, number>>> {
    // metrics are the participants' own: a site refused this round reports nothing for it
    this.sessions.openMetrics(r.round, participants);
    const targets = participants.filter((s) => this.o.hub.session(s)?.isOpen);
    for (const site of targets) {
      try {
        this.o.hub.session(site)!.send({
          type: 'consensus', round: r.round, indices: r.indices, rows: r.indices.length, cols: r.cols,
          ...(r.labels ? { labels: r.labels } : {}), ...(r.soft ? { soft: r.soft } : {}),
        });
      } catch (e) {
        this.log(`round ${r.round + 1}: consensus to ${site} failed: ${(e as Error).message}`);
      }
    }
    // As for replies: once a quorum of the targets sent metrics, the rest get straggler_grace_s. A
    // site that answers and then stalls (or never sends metrics) must not hold every round for round_timeout_s.
    let deadline = performance.now() + timeoutMs;
    let graceStarted = false;
    for (;;) {
      const got = this.sessions.metricsReceived(r.round);
      const waiting = targets.filter((s) => !got.has(s) && this.o.hub.session(s)?.isOpen);
      if (!graceStarted && got.size >= Math.min(this.o.config.quorum, targets.length)) {
        graceStarted = true;
        deadline = Math.min(deadline, performance.now() + this.o.config.stragglerGraceMs);
      }
      if (waiting.length === 0 || performance.now() >= deadline || this.stopped) {
        this.sessions.closeMetrics();
        if (waiting.length > 0 && !this.stopped) this.log(`round ${r.round + 1}: no metrics from ${waiting.join(', ')} (cut off ${graceStarted ? `${this.o.config.stragglerGraceMs} ms after a quorum sent theirs` : `after ${timeoutMs} ms`})`);
        return Object.fromEntries(got);
      }
      await this.waitForChange(Math.max(0, Math.min(1000, deadline - performance.now())));
    }
  }
}

/**
 * How long a restarted aggregator waits for a stored release's participants before re-sending it
 * to those that rejoined: twice a site's longest reconnect backoff, so every site still running is back.
 */
const RESEND_WAIT_MS = 2 * DEFAULT_RECONNECT_POLICY.maxDelayMs;

/** First retry of a round below quorum waits this long; each further one doubles, up to RETRY_MAX_DELAY_MS. */
const RETRY_BASE_DELAY_MS = 50;
const RETRY_MAX_DELAY_MS = 5_000;

function mean(xs: (number | undefined)[]): number {
  const v = xs.filter((x): x is number => typeof x === 'number');
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** Accuracies the sites reported (sites without an eval set report none). */
function accuracies(siteMetrics: Record<string, Record<string, number>>): number[] {
  return Object.values(siteMetrics).map((m) => m.accuracy).filter((a): a is number => typeof a === 'number' && Number.isFinite(a));
}
