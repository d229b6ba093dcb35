// The run database under bad input and bad disks: a file that is not SQLite, a newer schema, a
// second server on the same file, a disk that fills mid-round. Each is one coded error, never a
// half-written round, never an internal error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RunDatabase, databaseError } from '../../../server/run-database.ts';
import { Aggregator } from '../../../server/aggregator.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { FedistillError } from '../../../shared/util/errors.ts';
import { SCRIPTED_PUBLIC_SET, ScriptedHub, scriptedRunConfig } from './scripted-hub.ts';

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedistill-dbsafe-'));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

const code = (fn: () => unknown): string => {
  try { fn(); } catch (e) {
    assert.ok(e instanceof FedistillError, `expected a FedistillError, got ${(e as Error).name}: ${(e as Error).message}`);
    return e.code;
  }
  assert.fail('expected an error');
};

test('a file that is not SQLite is E_DB_OPEN naming the file, not an internal SqliteError', withDir((dir) => {
  const p = join(dir, 'notes.db');
  writeFileSync(p, 'these are my notes, not a database\n'.repeat(40));
  assert.equal(code(() => new RunDatabase(p)), 'E_DB_OPEN');
  assert.throws(() => new RunDatabase(p), /notes\.db is not a fedistill database/);
  assert.equal(readFileSync(p, 'utf8').slice(0, 10), 'these are ');
  assert.equal(code(() => new RunDatabase(join(dir, 'missing-folder', 'run.db'))), 'E_DB_OPEN');
}));

test('a database from a newer fedistill is refused before anything writes to it', withDir((dir) => {
  const p = join(dir, 'run.db');
  new RunDatabase(p).close();
  const raw = new Database(p);
  raw.pragma('journal_mode = DELETE');
  raw.prepare(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`).run();
  raw.close();
  const before = readFileSync(p);
  assert.throws(() => new RunDatabase(p), (e: FedistillError) => e.code === 'E_DB_SCHEMA' && /version 99.*upgrade fedistill/.test(e.message));
  assert.deepEqual(readFileSync(p), before, 'the newer file is left byte for byte');
  assert.deepEqual(readdirSync(dir).sort(), ['run.db'], 'no WAL switched on in it');
}));

test('a second server on the same database is refused at once (E_DB_LOCKED); the lock goes with the first', withDir((dir) => {
  const p = join(dir, 'run.db');
  const first = new RunDatabase(p, { exclusive: true });
  assert.throws(() => new RunDatabase(p, { exclusive: true }), (e: FedistillError) => e.code === 'E_DB_LOCKED' && /in use by another fedistill server/.test(e.message));
  // readers (audit verify, reports) are not servers: they still open it while it runs
  const reader = new RunDatabase(p);
  reader.close();
  first.close();
  new RunDatabase(p, { exclusive: true }).close();
}));

test('a second server reaching the same database through a symlink (to it or to its folder) is refused too', withDir((dir) => {
  const p = join(dir, 'run.db');
  const first = new RunDatabase(p, { exclusive: true });
  symlinkSync(p, join(dir, 'link.db'));
  symlinkSync(dir, join(dir, 'alias')); // a folder reached by another path
  for (const other of [join(dir, 'link.db'), join(dir, 'alias', 'run.db')]) {
    assert.throws(() => new RunDatabase(other, { exclusive: true }), (e: FedistillError) => e.code === 'E_DB_LOCKED' && e.message.includes(other), other);
  }
  first.close();
  new RunDatabase(join(dir, 'link.db'), { exclusive: true }).close();
}));

test('SQLite failures mid-run map to coded errors; other errors pass through', () => {
  const sqlite = (c: string) => Object.assign(new Error('x'), { code: c });
  assert.equal((databaseError(sqlite('SQLITE_FULL'), 'a.db') as FedistillError).code, 'E_DB_WRITE');
  assert.equal((databaseError(sqlite('SQLITE_READONLY'), 'a.db') as FedistillError).code, 'E_DB_WRITE');
  assert.equal((databaseError(sqlite('SQLITE_BUSY'), 'a.db') as FedistillError).code, 'E_DB_LOCKED');
  assert.equal((databaseError(sqlite('SQLITE_NOTADB'), 'a.db') as FedistillError).code, 'E_DB_OPEN');
  const other = new TypeError('bug');
  assert.equal(databaseError(other, 'a.db'), other);
});

test('the disk fills during a round: nothing of that round is charged or released; after space is freed it resumes', withDir(async (dir) => {
  const config = scriptedRunConfig(join(dir, 'run.db'), { rounds: 3 });
  const db = new RunDatabase(config.database);
  // A full disk, for this connection: once round 2 has started, the file may not grow by a page
  // (its release, 400×10 floats, needs several).
  const startRound = db.startRound.bind(db);
  db.startRound = (runId, round) => {
    startRound(runId, round);
    if (round === 1) db.sqlite.pragma(`max_page_count = ${db.sqlite.pragma('page_count', { simple: true })}`);
  };
  const hub = new ScriptedHub(2);
  const agg = new Aggregator({ db, config, strategy: strategyFor(config), hub, publicSet: SCRIPTED_PUBLIC_SET });
  const running = agg.run();
  hub.connect();
  const failure = await running.then(() => undefined, (e: unknown) => e);
  const mapped = databaseError(failure, config.database) as FedistillError;
  assert.equal(mapped.code, 'E_DB_WRITE', String(failure));
  assert.match(mapped.message, /disk is full.*restart with the same config/);
  db.close();

  const again = new RunDatabase(config.database);
  assert.equal(again.lastCompletedRound('crash'), 0);
  assert.equal(again.roundStatus('crash', 1), 'open');
  assert.deepEqual(again.releases('crash').map((r) => r.round), [0]);
  assert.equal(again.ledgerEntries('run:crash').length, 1, 'the refused write took its charge with it');
  const hub2 = new ScriptedHub(2);
  const resumed = new Aggregator({ db: again, config, strategy: strategyFor(config), hub: hub2, publicSet: SCRIPTED_PUBLIC_SET });
  const run2 = resumed.run();
  hub2.connect();
  assert.equal((await run2).status, 'complete');
  assert.deepEqual(again.ledgerEntries('run:crash').map((e) => e.note), ['round 0', 'round 1', 'round 2']);
  again.close();
}));
