// End to end: an aggregator and 3 sites as separate processes over real secure websockets and
// SQLite; then kill -9 of the aggregator mid-run, restart, and check the ledger is exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocalDeployment, spawnFedistill, writeDeployment, type DeploymentPlan } from '../../simulations/local-deployment.ts';
import { RunDatabase } from '../../server/run-database.ts';
import { RdpAccountant } from '../../shared/privacy/rdp-accountant.ts';
import { runCli } from '../../cli/main.ts';

/** `fedistill audit verify DB --run e2e --json` through the CLI: exit code and output. */
async function auditVerify(db: string): Promise<{ code: number; out: string }> {
  let out = '';
  const io = { out: (t: string) => { out += t; }, err: (t: string) => { out += t; } };
  return { code: await runCli(['audit', 'verify', db, '--run', 'e2e', '--json'], io), out };
}

function plan(dir: string, rounds: number): DeploymentPlan {
  return {
    dir, runId: 'e2e', sites: 3,
    run: {
      public_set: 'mnist:test[0:500]',
      strategy: { name: 'dsfl', queries_per_round: 40 },
      privacy: { clip: 1, noise_multiplier: 5, epsilon: 50, delta: 1e-5, teachers_per_site: 2 },
      rounds, quorum: 3, min_sites: 3, round_timeout_s: 120, join_timeout_s: 120,
    },
    site: {
      public_set: 'mnist:test[0:500]', eval_set: 'mnist:test[9000:9300]', model: 'mlp', teachers: 2, threads: 1,
      local: { epochs: 1, batch: 64 }, digest: { epochs: 1, private_mix: 200 },
    },
    perSite: (i) => ({ seed: i + 1, data: { dataset: 'mnist:train[0:1500]', partition: { scheme: 'dirichlet', alpha: 0.5, clients: 3, index: i, seed: 7 } } }),
  };
}

function replayEpsilon(db: RunDatabase, scope: string): number {
  const acc = new RdpAccountant();
  for (const e of db.ledgerEntries(scope)) acc.compose(e.event);
  return acc.getEpsilon(1e-5).epsilon;
}

test('3 site processes complete a run over real websockets; ledgers, audit log and students check out', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-e2e-'));
  try {
    const res = await runLocalDeployment(plan(dir, 2), () => {});
    const agg = res.aggregator.summary;
    assert.equal(agg.status, 'complete');
    assert.equal(agg.rounds.length, 2);
    const db = new RunDatabase(res.database);
    try {
      assert.equal(db.releases('e2e').length, 2);
      assert.equal(db.ledgerEntries('run:e2e').length, 2);
      assert.ok(Math.abs(replayEpsilon(db, 'run:e2e') - agg.epsilon) < 1e-9);
    } finally {
      db.close();
    }
    const audit = await auditVerify(res.database);
    assert.equal(audit.code, 0, audit.out);
    for (const s of res.sites) {
      assert.equal(s.summary.rounds_digested, 2);
      assert.ok(s.summary.final_accuracy > 0.3, `${s.name} accuracy ${s.summary.final_accuracy}`);
      // The site's own ledger: one entry per round, its bound ≥ what the aggregator charged for it.
      const lines = readFileSync(join(dir, `${s.summary.site}.ledger.jsonl`), 'utf8').trim().split('\n');
      assert.equal(lines.length, 2);
      assert.ok(s.summary.ledger_epsilon >= agg.epsilon - 1e-9);
      assert.ok(existsSync(s.summary.student_out));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 of the aggregator during round 2, restart: the run completes and each release is charged once', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-crash-'));
  try {
    const files = await writeDeployment(plan(dir, 3));
    let killed = false;
    let first!: ReturnType<typeof spawnFedistill>;
    const sawRoundOne = new Promise<void>((resolve) => {
      first = spawnFedistill('aggregator', ['server', '--config', files.runConfig], (line) => {
        // Round 1 is complete: the next line of work is round 2's query. Kill now, mid round 2.
        if (!killed && /round 1\/3:/.test(line)) { killed = true; first.kill('SIGKILL'); resolve(); }
      });
    });
    const sites = files.siteConfigs.map((c, i) => spawnFedistill(`site-${i + 1}`, ['client', '--config', c], () => {}));
    await sawRoundOne;
    const dead = await first.done;
    assert.equal(dead.code, null, 'killed by a signal');
    const second = spawnFedistill('aggregator', ['server', '--config', files.runConfig], () => {});
    const [agg, ...siteResults] = await Promise.all([second.done, ...sites.map((s) => s.done)]);
    assert.equal(agg!.code, 0, agg!.stderrTail);
    for (const s of siteResults) assert.equal(s.code, 0, s.stderrTail);
    assert.equal(agg!.summary.status, 'complete');
    const db = new RunDatabase(files.database);
    try {
      const releases = db.releases('e2e');
      assert.deepEqual(releases.map((r) => r.round), [0, 1, 2]);
      const entries = db.ledgerEntries('run:e2e');
      assert.equal(entries.length, 3, 'one charge per release, none twice');
      assert.deepEqual(entries.map((e) => e.note), ['round 0', 'round 1', 'round 2']);
      assert.ok(Math.abs(replayEpsilon(db, 'run:e2e') - agg!.summary.epsilon) < 1e-9);
    } finally {
      db.close();
    }
    const audit = await auditVerify(files.database);
    assert.equal(audit.code, 0, audit.out);
    for (let i = 1; i <= 3; i++) {
      const lines = readFileSync(join(dir, `site-${i}.ledger.jsonl`), 'utf8').trim().split('\n');
      assert.ok(lines.length >= 3, 'every round answered at least once');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
