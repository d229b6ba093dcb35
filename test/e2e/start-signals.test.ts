// `fedistill start` stopped by SIGTERM (kill, a CI timeout) or Ctrl-C (SIGINT to its process group):
// it stops its aggregator and site processes, leaves none running (no port or database lock held),
// and ends like `simulate`: one E_INTERRUPTED line, the --json error object, exit 143 / 130.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunDatabase } from '../../server/run-database.ts';
import { writeDeployment } from '../../simulations/local-deployment.ts';

const BIN = fileURLToPath(new URL('../../bin/fedistill.js', import.meta.url));

/** `pid`'s child processes (empty when it has none): the aggregator, the sites, and tsx's esbuild service. */
function childrenOf(pid: number): { pid: number; args: string }[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' }).trim().split('\n')
      .map((l) => { const m = /^\s*(\d+)\s+(.*)$/.exec(l)!; return { pid: Number(m[1]), args: m[2]! }; });
  } catch { return []; } // ps exits 1 when there is none
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/**
 * Runs `fedistill start` in a fresh folder and, once its aggregator listens (the sites are still
 * training), sends `signal`: to the process, or to its whole process group as a terminal's Ctrl-C does.
 */
async function interruptStart(signal: NodeJS.Signals, toGroup: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-start-sig-'));
  const child = spawn(process.execPath, [BIN, 'start', '--rounds', '1', '--sites', '2', '--dir', join(dir, 'run'), '--json'], { stdio: ['ignore', 'pipe', 'pipe'], detached: toGroup });
  let stdout = '';
  let stderr = '';
  let spawned: { pid: number; args: string }[] = [];
  child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    stderr += t;
    if (spawned.length === 0 && /\[aggregator\] aggregator listening on/.test(stderr)) {
      spawned = childrenOf(child.pid!);
      if (toGroup) process.kill(-child.pid!, signal);
      else child.kill(signal);
    }
  });
  const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
  await new Promise((r) => setTimeout(r, 500)); // an orphan would still be running now
  // the aggregator and the sites (tsx's esbuild service, also a child, leaves on its own when its parent has gone)
  const left = spawned.filter((p) => / (server|client) --config /.test(p.args) && alive(p.pid));
  for (const p of spawned) if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
  return { dir, code, sig, stdout, stderr, spawned, left };
}

for (const [signal, toGroup, exit] of [['SIGTERM', false, 143], ['SIGINT', true, 130]] as const) {
  test(`${signal} to fedistill start${toGroup ? "'s process group (Ctrl-C)" : ''} stops its aggregator and sites, says E_INTERRUPTED and exits ${exit}`, { timeout: 90_000 }, async () => {
    const r = await interruptStart(signal, toGroup);
    try {
      assert.deepEqual(r.spawned.map((p) => / (server|client) --config /.exec(p.args)?.[1]).filter(Boolean).sort(), ['client', 'client', 'server'], r.stderr);
      assert.deepEqual(r.left, [], `processes left running after fedistill start exited: ${r.stderr}`);
      assert.deepEqual([r.code, r.sig], [exit, null], r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l.includes('E_INTERRUPTED'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`^fedistill start: interrupted \\(${signal}\\): the aggregator and 2 site process\\(es\\) stopped; kept .*fedistill\\.db .*fedistill server --config .*run\\.yaml.* \\[E_INTERRUPTED\\]$`));
      const j = JSON.parse(r.stdout);
      assert.deepEqual([j.ok, j.command, j.exit_code, j.error.code], [false, 'fedistill start', exit, 'E_INTERRUPTED']);
      assert.match(j.error.message, /^interrupted /);
      // the aggregator let go of its database: a new server could take it over
      new RunDatabase(join(r.dir, 'run', 'fedistill.db'), { exclusive: true }).close();
    } finally {
      rmSync(r.dir, { recursive: true, force: true });
    }
  });
}

test('fedistill start --dir on a folder that already holds a run refuses at once (E_FILE_EXISTS) and leaves it as it was', async () => {
  const { runCli } = await import('../../cli/main.ts');
  const { mkdirSync, readFileSync, writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-start-again-'));
  try {
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'aggregator.key'), 'the earlier run\'s key');
    let out = '';
    let err = '';
    const code = await runCli(['start', '--dir', dir, '--json'], { out: (t) => { out += t; }, err: (t) => { err += t + '\n'; } });
    assert.equal(code, 1, err);
    const j = JSON.parse(out);
    assert.equal(j.error.code, 'E_FILE_EXISTS');
    assert.match(j.error.message, /already holds a run .*choose another --dir .*fedistill server --config .*run\.yaml/);
    assert.doesNotMatch(err, /--out/);
    assert.equal(readFileSync(join(dir, 'keys', 'aggregator.key'), 'utf8'), 'the earlier run\'s key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fedistill client --json stopped by Ctrl-C during local training prints its one E_INTERRUPTED object and exits by the signal', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-client-sig-'));
  try {
    // no aggregator is needed: the site trains before it connects
    const files = await writeDeployment({
      dir, runId: 'r1', sites: 1,
      run: { public_set: 'mnist:test[0:100]', strategy: { name: 'dsfl', queries_per_round: 10 }, privacy: { epsilon: 5 }, rounds: 1, quorum: 1 },
      site: { public_set: 'mnist:test[0:100]', data: { dataset: 'mnist:train[0:5000]' }, local: { epochs: 50 } },
    });
    const child = spawn(process.execPath, [BIN, 'client', '--config', files.siteConfigs[0]!, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      stderr += t;
      if (/training the local model/.test(stderr) && !child.killed) setTimeout(() => child.kill('SIGINT'), 300);
    });
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
    assert.ok(code === 130 || sig === 'SIGINT', `${code} ${sig}: ${stderr}`);
    assert.match(stderr, /stopping \(SIGINT\) during local training: nothing has left this site yet/);
    const j = JSON.parse(stdout);
    assert.deepEqual([j.ok, j.command, j.exit_code, j.error.code], [false, 'fedistill client', 130, 'E_INTERRUPTED']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fedistill client --json: Ctrl-C while a digest runs lets it finish before the ledger is given back; Ctrl-C again stops at once with its one E_INTERRUPTED object', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-client-sig2-'));
  const procs: ReturnType<typeof spawn>[] = [];
  try {
    // one site, a quorum of one; its digest revisits its private data for many epochs: seconds of work
    const files = await writeDeployment({
      dir, runId: 'r1', sites: 1,
      run: { public_set: 'mnist:test[0:100]', strategy: { name: 'dsfl', queries_per_round: 10 }, privacy: { epsilon: 100 }, rounds: 2, quorum: 1, min_sites: 1 },
      site: { public_set: 'mnist:test[0:100]', data: { dataset: 'mnist:train[0:2000]' }, local: { epochs: 1 }, digest: { epochs: 1, revisit_epochs: 200 }, threads: 1 },
    });
    const ledger = join(dir, 'site-1.ledger.jsonl');
    const recorded = () => { try { return readFileSync(ledger, 'utf8').length > 0; } catch { return false; } };
    procs.push(spawn(process.execPath, [BIN, 'server', '--config', files.runConfig], { stdio: 'ignore' }));
    const child = spawn(process.execPath, [BIN, 'client', '--config', files.siteConfigs[0]!, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(child);
    let stdout = '', stderr = '', first = false, second = false;
    child.stdout!.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
    child.stderr!.setEncoding('utf8').on('data', (t: string) => {
      stderr += t;
      if (!second && /finishing the query or digest in progress first/.test(stderr)) { second = true; child.kill('SIGINT'); }
    });
    // the first reply recorded: the consensus follows at once (quorum 1), and a second later its digest runs
    const poll = setInterval(() => {
      if (!first && recorded()) { first = true; setTimeout(() => child.kill('SIGINT'), 1000); }
    }, 100);
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
    clearInterval(poll);
    assert.match(stderr, /finishing the query or digest in progress first, so that nothing writes the ledger after this client lets it go \(Ctrl-C again stops at once\)/);
    assert.match(stderr, /stopping at once \(SIGINT\): the query or digest in progress is cut/);
    assert.ok(code === 130 || sig === 'SIGINT', `${code} ${sig}: ${stderr}`);
    const j = JSON.parse(stdout);
    assert.deepEqual([j.ok, j.command, j.exit_code, j.error.code], [false, 'fedistill client', 130, 'E_INTERRUPTED']);
    assert.match(j.error.message, /stopping at once/);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
