// The aggregator of a simulation: the run config a scenario implies, and the real Aggregator over a simulation hub.
import { AuditLog } from '../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../shared/audit/sqlite-audit-store.ts';
import type { Identity } from '../shared/crypto/identity.ts';
import { Aggregator, type RunSummary } from '../server/aggregator.ts';
import { validateRunConfig, type RunConfig } from '../server/run-config.ts';
import { strategyFor } from '../server/run-aggregator.ts';
import type { RunDatabase } from '../server/run-database.ts';
import type { Dataset } from '../shared/data/types.ts';
import { epsilonFromEvents } from '../shared/privacy/rdp-accountant.ts';
import type { Scenario } from './scenario.ts';
import { SeededNoiseStrategy } from './seeded-noise.ts';
import type { SimulationHub } from './simulation-hub.ts';
import type { SecureServer } from '../shared/channel/secure-server.ts';

/** The run.yaml fields (snake_case) a scenario implies; loopback writes them, in-process validates them directly. */
export function runFieldsOf(s: Scenario, database: string, minSites = s.sites.count): Record<string, unknown> {
  return {
    run_id: s.name,
    database,
    public_set: s.data.publicSet,
    strategy: {
      name: s.strategy.name,
      queries_per_round: s.strategy.queriesPerRound,
      entropy_reduction_temperature: s.strategy.entropyReductionTemperature,
      reply_temperature: s.strategy.replyTemperature,
      threshold: s.strategy.threshold,
      sigma1: s.strategy.sigma1,
      sigma2: s.strategy.sigma2,
      accounting: s.strategy.accounting,
    },
    privacy: { clip: s.privacy.clip, noise_multiplier: s.privacy.noiseMultiplier, epsilon: s.privacy.epsilon, delta: s.privacy.delta, teachers_per_site: s.privacy.teachersPerSite },
    rounds: s.rounds,
    quorum: s.quorum,
    min_sites: minSites,
    round_timeout_s: s.roundTimeoutS,
    join_timeout_s: Math.max(60, s.roundTimeoutS),
    seed: s.seed,
  };
}

/** An in-memory run config (identity and allowlist are objects in this process, not files). */
export function inMemoryRunConfig(s: Scenario, database: string, minSites?: number): RunConfig {
  return validateRunConfig({ ...runFieldsOf(s, database, minSites), identity: 'in-memory', allowlist: 'in-memory' });
}

/** The real Aggregator with the scenario's strategy (its noise seeded only when the scenario asks, for tests) and a signed audit log. */
export function simulationAggregator(s: Scenario, config: RunConfig, db: RunDatabase, hub: SimulationHub, publicSet: Dataset, log: (l: string) => void, identity: Identity): Aggregator {
  const base = strategyFor(config);
  const strategy = s.privacy.testNoiseSeed === undefined ? base : new SeededNoiseStrategy(base, s.privacy.testNoiseSeed);
  return new Aggregator({
    db, config, strategy, hub, log,
    // The same signed audit log as a deployment's: `fedistill audit verify` checks a simulation too.
    audit: new AuditLog(new SqliteAuditStore(db.sqlite), identity),
    publicSet: { spec: publicSet.spec, hash: publicSet.hash, length: publicSet.length, numClasses: publicSet.numClasses },
  });
}

/** An auditor's replay: ε recomputed from the run's ledger events alone. */
export function replayLedgerEpsilon(db: RunDatabase, runId: string, delta: number): { epsilon: number; events: number } {
  const entries = db.ledgerEntries(`run:${runId}`);
  if (entries.length === 0) return { epsilon: 0, events: 0 };
  return { epsilon: epsilonFromEvents(entries.map((e) => e.event), delta).epsilon, events: entries.length };
}

/** Joins the summaries of an aggregator that was restarted (simulated crash) into one. */
export function mergeSummaries(parts: RunSummary[]): RunSummary {
  const last = parts.at(-1)!;
  const bytes: RunSummary['bytes'] = {};
  for (const p of parts) for (const [site, b] of Object.entries(p.bytes)) {
    const t = (bytes[site] ??= { sent: 0, received: 0 });
    t.sent += b.sent;
    t.received += b.received;
  }
  return { ...last, rounds: parts.flatMap((p) => p.rounds), bytes };
}

/**
 * A crash, not a shutdown: sessions are cut without the E_SERVER_CLOSING goodbye (after which a
 * site considers the run over), so sites keep reconnecting until the aggregator is back.
 */
export async function crashServer(server: SecureServer): Promise<void> {
  // A handshake that was in flight completes after close() and would leave a session on the dead
  // server (SecureServer does not re-check `closing` after the handshake): cut those too.
  server.on('session', (s) => s.close(4000, 'simulated aggregator crash'));
  for (const name of server.connectedSites) server.session(name)?.close(4000, 'simulated aggregator crash');
  await server.close();
}
