// Starts an aggregator from a validated run config: database, identity, allowlist, secure server, strategy.
import { loadDataset } from '../shared/data/catalog.ts';
import { readIdentityFile } from '../shared/crypto/identity.ts';
import { loadAllowlist } from '../shared/crypto/allowlist.ts';
import { SecureServer } from '../shared/channel/secure-server.ts';
import { RunDatabase } from './run-database.ts';
import { Aggregator, type RunSummary } from './aggregator.ts';
import type { RunConfig } from './run-config.ts';
import type { Strategy } from './strategies/strategy.ts';
import { SoftLabelAverage } from './strategies/soft-label-average.ts';
import { CentralGaussian } from './strategies/central-gaussian.ts';
import { Pate } from './strategies/pate.ts';
import { AuditLog } from '../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../shared/audit/sqlite-audit-store.ts';

/** The strategy a config names, with its privacy wrapper. */
export function strategyFor(c: RunConfig): Strategy {
  const s = c.strategy;
  if (s.name === 'pate') return new Pate({ queriesPerRound: s.queriesPerRound, threshold: s.threshold, sigma1: s.sigma1, sigma2: s.sigma2, minReplies: c.quorum });
  const inner = new SoftLabelAverage({
    queriesPerRound: s.queriesPerRound,
    replyTemperature: s.replyTemperature,
    minReplies: c.quorum,
    ...(s.name === 'dsfl' ? { entropyReductionTemperature: s.entropyReductionTemperature } : {}),
  });
  return new CentralGaussian(inner, { clip: c.privacy.clip, noiseMultiplier: c.privacy.noiseMultiplier });
}

/** Runs the aggregator until the run ends; stops cleanly on SIGINT/SIGTERM. */
export async function runAggregator(c: RunConfig, log: (line: string) => void): Promise<RunSummary & { database: string }> {
  const publicSet = loadDataset(c.publicSet);
  const db = new RunDatabase(c.database);
  const identity = readIdentityFile(c.identity);
  const server = new SecureServer({ identity, allowlist: loadAllowlist(c.allowlist), port: c.listen.port, host: c.listen.host });
  server.on('refused', (r) => log(`refused a connection from ${r.address}: ${r.code}`));
  const aggregator = new Aggregator({
    db, config: c, strategy: strategyFor(c), hub: server, log, audit: new AuditLog(new SqliteAuditStore(db.sqlite), identity),
    publicSet: { spec: publicSet.spec, hash: publicSet.hash, length: publicSet.length, numClasses: publicSet.numClasses },
  });
  await server.listen();
  log(`aggregator listening on ${server.url} (run ${c.runId}, ${c.strategy.name}, database ${c.database})`);
  const onSignal = () => { log('stopping after the current step (signal)'); aggregator.stop(); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const summary = await aggregator.run();
    return { ...summary, database: c.database };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server.close();
    db.close();
  }
}
