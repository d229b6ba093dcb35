// kill -9 of a real aggregator process at the three points that matter — inside the charge+release
// transaction, after it committed but before the consensus went out, after the consensus but before
// the round was marked complete — then a restart: each round is charged exactly once, none is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunDatabase } from '../../server/run-database.ts';
import { RdpAccountant } from '../../shared/privacy/rdp-accountant.ts';
import { generateIdentity, writeIdentityFile } from '../../shared/crypto/identity.ts';
import { runCli } from '../../cli/main.ts';

const CHILD = fileURLToPath(new URL('./aggregator-crash-child.ts', import.meta.url));
const ROUNDS = 4;

function child(dir: string, killAt: string, round: number): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, killAt, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

function state(path: string): { released: number[]; charges: string[]; site1: number; complete: number } {
  const db = new RunDatabase(path);
  try {
    return {
      released: db.releases('crash').map((r) => r.round),
      charges: db.ledgerEntries('run:crash').map((e) => e.note ?? ''),
      site1: db.ledgerEntries('site:site-1').length,
      complete: db.lastCompletedRound('crash'),
    };
  } finally {
    db.close();
  }
}

const rounds = (n: number) => Array.from({ length: n }, (_, i) => i);

for (const [killAt, releasedAtCrash] of [['in-release', 1], ['after-release', 2], ['before-complete', 2]] as const) {
  test(`kill -9 ${killAt} of round 2, restart: every round released and charged once, audit log verifies`, { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), `fedistill-crash-${killAt}-`));
    try {
      writeIdentityFile(join(dir, 'aggregator.key'), generateIdentity());
      const db = join(dir, 'run.db');
      const crashed = await child(dir, killAt, 1);
      assert.equal(crashed.signal, 'SIGKILL', crashed.err);
      // What the crash left: committed rounds only; round 2's charge is there exactly when its release is.
      const mid = state(db);
      assert.deepEqual(mid.released, rounds(releasedAtCrash));
      assert.deepEqual(mid.charges, rounds(releasedAtCrash).map((r) => `round ${r}`));
      assert.equal(mid.site1, releasedAtCrash);
      assert.equal(mid.complete, 0);

      // Restart (the dead process's lock is gone): the run completes without a second charge.
      const again = await child(dir, 'none', -1);
      assert.equal(again.code, 0, again.err);
      const summary = JSON.parse(again.out.trim()) as { status: string; epsilon: number; rounds: { round: number; resumed: boolean }[] };
      assert.equal(summary.status, 'complete');
      assert.deepEqual(summary.rounds.map((r) => r.round), [1, 2, 3]);
      assert.equal(summary.rounds[0]!.resumed, releasedAtCrash === 2, 'a committed release is re-sent, not recomputed');
      const end = state(db);
      assert.deepEqual(end.released, rounds(ROUNDS));
      assert.deepEqual(end.charges, rounds(ROUNDS).map((r) => `round ${r}`));
      assert.equal(end.site1, ROUNDS);
      assert.equal(end.complete, ROUNDS - 1);
      const reopened = new RunDatabase(db);
      const acc = new RdpAccountant();
      for (const e of reopened.ledgerEntries('run:crash')) acc.compose(e.event);
      reopened.close();
      assert.ok(Math.abs(acc.getEpsilon(1e-5).epsilon - summary.epsilon) < 1e-9);
      let out = '';
      const code = await runCli(['audit', 'verify', db, '--run', 'crash', '--json'], { out: (t) => { out += t; }, err: (t) => { out += t; } });
      assert.equal(code, 0, out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
