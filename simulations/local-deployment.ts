// A real multi-process deployment on loopback: writes keys and configs, spawns the aggregator and
// site processes (fedistill server / client), streams their progress and gathers their summaries.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { encodePublicKey, generateIdentity, writeIdentityFile } from '../shared/crypto/identity.ts';
import { FedistillError } from '../shared/util/errors.ts';

export interface DeploymentPlan {
  dir: string;
  runId: string;
  sites: number;
  /** Run config fields (snake_case, as in run.yaml), merged over the generated ones. */
  run: Record<string, unknown>;
  /** Site config fields merged into every site's config; `perSite(i)` adds per-site ones. */
  site: Record<string, unknown>;
  perSite?: (i: number) => Record<string, unknown>;
}

/** One process's end: `summary` is the last line of its stdout, its --json object (snake_case keys), if it parses. */
export interface ProcessResult { name: string; code: number | null; summary: any; stderrTail: string }

const BIN = fileURLToPath(new URL('../bin/fedistill.js', import.meta.url));

/** A free TCP port on loopback (bind to 0, read, release). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** Writes identities, the allowlist and every config file; returns their paths. */
export async function writeDeployment(p: DeploymentPlan): Promise<{ runConfig: string; siteConfigs: string[]; database: string }> {
  const dir = resolve(p.dir);
  mkdirSync(join(dir, 'keys'), { recursive: true });
  const agg = generateIdentity();
  writeIdentityFile(join(dir, 'keys', 'aggregator.key'), agg);
  const allow: Record<string, string> = {};
  const names = Array.from({ length: p.sites }, (_, i) => `site-${i + 1}`);
  for (const name of names) {
    const id = generateIdentity();
    writeIdentityFile(join(dir, 'keys', `${name}.key`), id);
    allow[encodePublicKey(id.publicKey)] = name;
  }
  writeFileSync(join(dir, 'allowlist.yaml'), stringify({ sites: allow }));
  const port = await freePort();
  const database = join(dir, 'fedistill.db');
  const run = { run_id: p.runId, listen: { host: '127.0.0.1', port }, identity: 'keys/aggregator.key', allowlist: 'allowlist.yaml', database: 'fedistill.db', ...p.run };
  const runConfig = join(dir, 'run.yaml');
  writeFileSync(runConfig, stringify(run));
  const siteConfigs = names.map((name, i) => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, stringify({
      name, identity: `keys/${name}.key`, server: { url: `ws://127.0.0.1:${port}`, public_key: encodePublicKey(agg.publicKey) },
      ledger: `${name}.ledger.jsonl`, student_out: `${name}-student.onnx`, ...p.site, ...p.perSite?.(i),
    }));
    return path;
  });
  return { runConfig, siteConfigs, database };
}

/** The fedistill processes this process spawned that are still running (terminateSpawned). */
const running = new Set<ChildProcess>();

/**
 * Sends `signal` to every fedistill process this process spawned and that still runs: a command
 * ending on a signal of its own (`simulate --mode loopback`) must not leave its site processes behind.
 */
export function terminateSpawned(signal: NodeJS.Signals = 'SIGTERM'): number {
  for (const c of running) c.kill(signal);
  return running.size;
}

/** Spawns `fedistill <args> --json`, forwarding stderr lines (progress) to `onLine`; `kill` says whether the process was still there to signal. */
export function spawnFedistill(name: string, args: string[], onLine: (line: string) => void): { done: Promise<ProcessResult>; kill: (sig?: NodeJS.Signals) => boolean } {
  const child = spawn(process.execPath, [BIN, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let errTail = '';
  let partial = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => {
    errTail = (errTail + d).slice(-4000);
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.trim()) onLine(l);
  });
  const done = new Promise<ProcessResult>((res) => {
    child.on('close', (code) => {
      let summary: any;
      try { summary = JSON.parse(out.trim().split('\n').at(-1) ?? ''); } catch { summary = undefined; }
      res({ name, code, summary, stderrTail: errTail });
    });
  });
  return { done, kill: (sig = 'SIGTERM') => child.exitCode === null && child.signalCode === null && child.kill(sig) };
}

/**
 * Stops a running deployment from outside: `fedistill start` on Ctrl-C or SIGTERM. `stop()` asks
 * every process to stop as its own Ctrl-C would (the aggregator after its current step, a site at
 * once with its ledger intact: docs/runs.md) and kills what still runs `graceMs` later; `stop(true)`
 * (the second Ctrl-C) kills them at once. `runLocalDeployment` then fails with E_INTERRUPTED, but
 * only once every process has exited: a stopped deployment leaves no process holding the port or
 * the database lock.
 */
export class DeploymentStop {
  /** How the stop was asked for (undefined while none was); `killed` once a process had to be killed. */
  requested?: 'after-step' | 'at-once';
  killed = false;
  private readonly listeners: ((atOnce: boolean) => void)[] = [];

  constructor(readonly graceMs = 30_000) {}

  stop(atOnce = false): void {
    if (this.requested === 'at-once' || (this.requested && !atOnce)) return;
    this.requested = atOnce ? 'at-once' : 'after-step';
    for (const l of this.listeners) l(atOnce);
  }

  /** Calls `l` on each stop asked for, and at once when one already was. */
  onStop(l: (atOnce: boolean) => void): void {
    this.listeners.push(l);
    if (this.requested) l(this.requested === 'at-once');
  }
}

/** Runs the whole deployment to its end; fails if any process fails, or with E_INTERRUPTED once `stop` stopped it. */
export async function runLocalDeployment(p: DeploymentPlan, onLine: (line: string) => void, stop?: DeploymentStop): Promise<{ aggregator: ProcessResult; sites: ProcessResult[]; database: string; dir: string }> {
  const files = await writeDeployment(p);
  if (stop?.requested) throw new FedistillError('E_INTERRUPTED', 'stopped before any process was started');
  const aggregator = spawnFedistill('aggregator', ['server', '--config', files.runConfig], onLine);
  const sites = files.siteConfigs.map((c, i) => spawnFedistill(`site-${i + 1}`, ['client', '--config', c], onLine));
  const all = [aggregator, ...sites];
  // One SIGTERM per process at most: a second one ends the aggregator's graceful stop at once.
  const termed = new Set<(typeof all)[number]>();
  const term = (q: (typeof all)[number]) => { if (!termed.has(q)) { termed.add(q); q.kill('SIGTERM'); } };
  let deadline: NodeJS.Timeout | undefined;
  const killAll = () => { for (const q of all) if (q.kill('SIGKILL')) stop!.killed = true; };
  stop?.onStop((atOnce) => {
    if (atOnce) { clearTimeout(deadline); killAll(); return; }
    // SIGTERM, not the SIGINT we may have got: a Ctrl-C in the terminal reached the children too, and
    // a second SIGINT would stop the aggregator at once; SIGTERM is the same graceful stop for them.
    for (const q of all) term(q);
    deadline = setTimeout(killAll, stop.graceMs);
  });
  // The first process to fail stops the others: a deployment never hangs on a dead site.
  const results = await Promise.all(all.map((p) => p.done.then((r) => {
    if (r.code !== 0) for (const q of all) term(q);
    return r;
  }))).finally(() => clearTimeout(deadline));
  if (stop?.requested) {
    const how = stop.killed ? (stop.requested === 'at-once' ? 'killed at once' : `killed after ${stop.graceMs / 1000} s`) : 'stopped';
    throw new FedistillError('E_INTERRUPTED', `the aggregator and ${sites.length} site process(es) ${how}`);
  }
  const bad = results.find((r) => r.code !== 0 && r.code !== null) ?? results.find((r) => r.code !== 0);
  if (bad) {
    throw new FedistillError('E_DEPLOYMENT_FAILED', `${bad.name} exited with code ${bad.code}: ${bad.stderrTail.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { aggregator: results[0]!, sites: results.slice(1), database: files.database, dir: resolve(p.dir) };
}
