// Child process of the crash tests: a real Aggregator on a real SQLite file (server lock held) with
// scripted sites, which kills itself with SIGKILL at the point named on its command line.
// Usage: node --import tsx aggregator-crash-child.ts DIR none|in-release|after-release|before-complete ROUND
import { join } from 'node:path';
import { Aggregator } from '../../server/aggregator.ts';
import { RunDatabase } from '../../server/run-database.ts';
import { strategyFor } from '../../server/run-aggregator.ts';
import { AuditLog } from '../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../shared/audit/sqlite-audit-store.ts';
import { readIdentityFile } from '../../shared/crypto/identity.ts';
import { SCRIPTED_PUBLIC_SET, ScriptedHub, scriptedRunConfig } from '../unit/server/scripted-hub.ts';

const [dir, killAt, killRoundText] = process.argv.slice(2) as [string, string, string];
const killRound = Number(killRoundText);
const config = scriptedRunConfig(join(dir, 'run.db'));
const db = new RunDatabase(config.database, { exclusive: true });

/** Dies as kill -9 does: no finally blocks, no flush, no close. */
function die(): never {
  process.kill(process.pid, 'SIGKILL');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
  throw new Error('SIGKILL did not end the process');
}

// Crash points, patched onto this connection only (the production code is unchanged).
let depth = 0;
let releasedNow = false;
const insertRelease = db.insertRelease.bind(db);
db.insertRelease = (runId, round, ...rest) => {
  insertRelease(runId, round, ...rest);
  if (round === killRound) {
    if (killAt === 'in-release') die(); // the charge and the release are written, not committed
    releasedNow = true;
  }
};
const transaction = db.transaction.bind(db);
db.transaction = <T>(fn: () => T): T => {
  depth++;
  try { return transaction(fn); } finally {
    depth--;
    if (depth === 0 && releasedNow && killAt === 'after-release') die(); // committed, consensus not sent
  }
};
const completeRound = db.completeRound.bind(db);
db.completeRound = (runId, round, metrics) => {
  if (round === killRound && killAt === 'before-complete') die(); // consensus sent, round not marked complete
  completeRound(runId, round, metrics);
};

const hub = new ScriptedHub(2);
const aggregator = new Aggregator({
  db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET, log: (l) => process.stderr.write(l + '\n'),
  audit: new AuditLog(new SqliteAuditStore(db.sqlite), readIdentityFile(join(dir, 'aggregator.key'))),
});
const running = aggregator.run(); // creates the run row first: a site's join is audited after run_started
hub.connect();
const summary = await running;
db.close();
process.stdout.write(JSON.stringify({ status: summary.status, epsilon: summary.epsilon, rounds: summary.rounds.map((r) => ({ round: r.round, resumed: r.resumed })) }) + '\n');
