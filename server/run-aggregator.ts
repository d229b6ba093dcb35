// Starts an aggregator from a validated run config: database, identity, allowlist, secure server, strategy.
import { loadDataset } from '../shared/data/catalog.ts';
import { readIdentityFile } from '../shared/crypto/identity.ts';
import { loadAllowlist } from '../shared/crypto/allowlist.ts';
import { SecureServer } from '../shared/channel/secure-server.ts';
import { disabledProtections } from '../shared/channel/connection-limits.ts';
import { addressGroup } from '../shared/channel/address-group.ts';
import { snakeCase } from '../shared/util/config-fields.ts';
import { FedistillError, check } from '../shared/util/errors.ts';
import { RefusalLog } from '../shared/util/refusal-log.ts';
import { RunDatabase, databaseError } from './run-database.ts';
import { Aggregator, type RunSummary } from './aggregator.ts';
import type { RunConfig } from './run-config.ts';
import type { Strategy } from './strategies/strategy.ts';
import { SoftLabelAverage } from './strategies/soft-label-average.ts';
import { CentralGaussian } from './strategies/central-gaussian.ts';
import { Pate } from './strategies/pate.ts';
import { AuditLog } from '../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../shared/audit/sqlite-audit-store.ts';
import { describePlan, describeSitesPlan, planRun, planSites, releasedRounds, siteScopeStates } from './run-plan.ts';

/** The strategy a config names, with its privacy wrapper. */
export function strategyFor(c: RunConfig): Strategy {
  const s = c.strategy;
  if (s.name === 'pate') return new Pate({ queriesPerRound: s.queriesPerRound, threshold: s.threshold, sigma1: s.sigma1, sigma2: s.sigma2, minReplies: c.quorum, accounting: s.accounting });
  const inner = new SoftLabelAverage({
    queriesPerRound: s.queriesPerRound,
    replyTemperature: s.replyTemperature,
    minReplies: c.quorum,
    ...(s.name === 'dsfl' ? { entropyReductionTemperature: s.entropyReductionTemperature } : {}),
  });
  return new CentralGaussian(inner, { clip: c.privacy.clip, noiseMultiplier: c.privacy.noiseMultiplier });
}

/** Settings a resumed run must keep: its budget and noise are in the ledger, its queries are seeded by them. */
const FIXED_ON_RESUME = ['strategy', 'privacy', 'publicSet', 'seed'] as const;

/**
 * Refuses to resume a run whose privacy or query settings changed in run.yaml: the database keeps
 * the first budget (a new epsilon would silently do nothing) and a resumed round must ask the same.
 */
export function checkResumable(db: RunDatabase, c: RunConfig): void {
  const row = db.getRun(c.runId);
  if (!row) return;
  const before = JSON.parse(row.configJson) as Record<string, unknown>;
  const now = c as unknown as Record<string, unknown>;
  for (const key of FIXED_ON_RESUME) {
    const a = before[key];
    const b = now[key];
    const fields = a !== null && typeof a === 'object' && b !== null && typeof b === 'object'
      ? [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [`${key}.${k}`, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]] as const)
      : [[key, a, b] as const];
    for (const [field, was, is] of fields) {
      // a field the old run did not store (added in a later version) is not a change
      if (was === undefined || JSON.stringify(was) === JSON.stringify(is)) continue;
      throw new FedistillError('E_RUN_CONFIG_CHANGED', `run ${c.runId} in ${c.database} was started with ${snakeCase(field)} = ${JSON.stringify(was)}, the config now says ${JSON.stringify(is)}; a resumed run keeps its privacy and query settings: restore the old value, or start a new run with another run_id`);
    }
  }
}

/** A run that stopped because one round never reached its quorum: what happened and what to do, in one line. */
export function stalledError(c: RunConfig, summary: RunSummary): FedistillError {
  const st = summary.stalled;
  const sites = [...new Set((st?.failures ?? []).map((f) => `${f.site} (${f.reason})`))].join(', ') || 'none reported';
  return new FedistillError('E_ROUND_STALLED', `run ${c.runId}: round ${(st?.round ?? 0) + 1} got ${st?.replies ?? 0} usable replies (quorum ${c.quorum}) in each of ${st?.attempts ?? c.maxRoundAttempts} attempts; failing sites: ${sites}. The run is recorded as stalled in ${c.database}; fix or remove those sites (or lower quorum, raise max_round_attempts), then restart with the same config to resume`);
}

/** Keys not on the allowlist that get their own hint line in the log (the rest are only counted). */
const MAX_UNKNOWN_KEY_HINTS = 16;

/** How long a server started on a run that had already ended keeps telling reconnecting sites so: the sites' longest reconnect backoff (30 s), and a margin. */
const LATE_SITES_MS = 35_000;

/** Runs the aggregator until the run ends; stops cleanly on SIGINT/SIGTERM; a stalled run throws E_ROUND_STALLED. */
export async function runAggregator(c: RunConfig, log: (line: string) => void): Promise<RunSummary & { database: string }> {
  const publicSet = loadDataset(c.publicSet);
  const identity = readIdentityFile(c.identity);
  const allowlist = loadAllowlist(c.allowlist);
  // a quorum larger than the allowlist could never be met: the run would only wait out join_timeout_s
  check(c.quorum <= allowlist.size, 'run.quorum', `is ${c.quorum}, but the allowlist ${c.allowlist} has ${allowlist.size} site(s)`, 'E_CONFIG_INVALID');
  check(c.minSites <= allowlist.size, 'run.min_sites', `is ${c.minSites}, but the allowlist ${c.allowlist} has ${allowlist.size} site(s)`, 'E_CONFIG_INVALID');
  const db = new RunDatabase(c.database, { exclusive: true });
  let server: SecureServer | undefined;
  // one line for the first refusal per (address, code), then one summary per 10 s: a flood of refused
  // connects from one address must not flood the operator's log
  const refusals = new RefusalLog({ log, groupOf: addressGroup });
  // the refusal line names only the code: for a key not on the allowlist, also say whose key and what
  // to do, once per key (and for a few keys at most: anyone who reaches the port can present new keys)
  const keysHinted = new Set<string>();
  const hintUnknownKey = (code: string, message: string) => {
    if (code !== 'E_UNKNOWN_SITE_KEY' || keysHinted.has(message) || keysHinted.size >= MAX_UNKNOWN_KEY_HINTS) return;
    keysHinted.add(message);
    log(`${message.replace(/; add it.*$/, '')} (${c.allowlist}): if it is one of this run's sites, add its public key (\`fedistill keys show\` on that site) with its site name, then restart with the same config; the run resumes and the site, which keeps retrying, joins`);
  };
  try {
    checkResumable(db, c);
    server = new SecureServer({ identity, allowlist, port: c.listen.port, host: c.listen.host, ...(c.connectionLimits ? { limits: c.connectionLimits } : {}) });
    const hub = server;
    hub.on('refused', (r) => {
      refusals.note(r.address, r.code);
      hintUnknownKey(r.code, r.message);
    });
    const aggregator = new Aggregator({
      db, config: c, strategy: strategyFor(c), hub, log, audit: new AuditLog(new SqliteAuditStore(db.sqlite), identity),
      publicSet: { spec: publicSet.spec, hash: publicSet.hash, length: publicSet.length, numClasses: publicSet.numClasses },
    });
    await hub.listen().catch((e: NodeJS.ErrnoException) => {
      if (e instanceof FedistillError) throw e;
      throw new FedistillError('E_LISTEN_FAILED', `cannot listen on ${c.listen.host}:${c.listen.port} (${e.code ?? e.message}); another process may hold the port: set listen.port, or stop it`, { cause: e });
    });
    log(`aggregator listening on ${hub.url} (run ${c.runId}, ${c.strategy.name}, database ${c.database})`);
    const plan = planRun(c, publicSet.numClasses, publicSet.length);
    for (const line of describePlan(plan)) log(line);
    // the sites' own scopes, charged in earlier runs on this database, may stop the run first
    // (a resumed run plans its remaining rounds: its sites' scopes hold the rounds it released)
    for (const line of describeSitesPlan(planSites(c, plan.roundEvent, siteScopeStates(db, allowlist.siteNames), releasedRounds(db, c.runId)), plan)) log(line);
    for (const w of disabledProtections(c.connectionLimits)) log(w);
    const onSignal = () => { log('stopping after the current step (signal)'); aggregator.stop(); };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const summary = await aggregator.run();
      aggregator.endRun(summary);
      if (summary.alreadyEnded) {
        // sites reconnect within 30 s of backoff: long enough for each to be told once
        const ms = Math.min(LATE_SITES_MS, c.joinTimeoutMs);
        log(`the run had already ended (${summary.status}): telling the sites that reconnect in the next ${Math.round(ms / 1000)} s that it is over, so that they stop (Ctrl-C ends this now)`);
        await aggregator.tellLateSites(ms);
      }
      if (summary.status === 'stalled') throw stalledError(c, summary);
      return { ...summary, database: c.database };
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } catch (e) {
    if (e instanceof FedistillError && e.code === 'E_QUORUM_TIMEOUT') {
      const live = server?.connectedSites ?? [];
      throw new FedistillError('E_QUORUM_TIMEOUT', `${e.message} (connected: ${live.join(', ') || 'none'}); start the missing sites' \`fedistill client\` (their logs say why they cannot join), or lower min_sites (quorum, once rounds have started) or raise join_timeout_s in the run config, then restart with the same config: the run resumes`, { cause: e });
    }
    // a write that failed mid-run (disk full, read-only file) rolled back whole: say so, in one line
    throw databaseError(e, c.database);
  } finally {
    await server?.close();
    refusals.close();
    db.close();
  }
}
