// A real multi-process deployment on loopback: writes keys and configs, spawns the aggregator and
// site processes (fedistill server / client), streams their progress and gathers their summaries.
import { spawn } from 'node:child_process';
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

/** Spawns `fedistill <args> --json`, forwarding stderr lines (progress) to `onLine`. */
export function spawnFedistill(name: string, args: string[], onLine: (line: string) => void): { done: Promise<ProcessResult>; kill: (sig?: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [BIN, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
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
  return { done, kill: (sig = 'SIGTERM') => child.kill(sig) };
}

/** Runs the whole deployment to its end; fails if any process fails. */
export async function runLocalDeployment(p: DeploymentPlan, onLine: (line: string) => void): Promise<{ aggregator: ProcessResult; sites: ProcessResult[]; database: string; dir: string }> {
  const files = await writeDeployment(p);
  const aggregator = spawnFedistill('aggregator', ['server', '--config', files.runConfig], onLine);
  const sites = files.siteConfigs.map((c, i) => spawnFedistill(`site-${i + 1}`, ['client', '--config', c], onLine));
  const all = [aggregator, ...sites];
  // The first process to fail stops the others: a deployment never hangs on a dead site.
  const results = await Promise.all(all.map((p) => p.done.then((r) => {
    if (r.code !== 0) for (const q of all) q.kill();
    return r;
  })));
  const bad = results.find((r) => r.code !== 0 && r.code !== null) ?? results.find((r) => r.code !== 0);
  if (bad) {
    throw new FedistillError('E_DEPLOYMENT_FAILED', `${bad.name} exited with code ${bad.code}: ${bad.stderrTail.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { aggregator: results[0]!, sites: results.slice(1), database: files.database, dir: resolve(p.dir) };
}
