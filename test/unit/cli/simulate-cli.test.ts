// `fedistill simulate` and `audit attack` given each other's scenario say which command runs it; Ctrl-C says what was kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../../cli/main.ts';

const BIN = fileURLToPath(new URL('../../../bin/fedistill.js', import.meta.url));
const SCENARIOS = fileURLToPath(new URL('../../../simulations/scenarios/', import.meta.url));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

test('simulate on an attack scenario points to `audit attack --scenario`, and audit attack on a simulation to `simulate`', async () => {
  const attack = join(SCENARIOS, 'attack-tiny.yaml');
  let r = await run(['simulate', attack, '--json']);
  assert.equal(r.code, 2);
  assert.match(r.err, /attack-tiny\.yaml is an attack scenario .*: run "fedistill audit attack --scenario .*attack-tiny\.yaml" \[E_SCENARIO_INVALID\]/);
  assert.doesNotMatch(r.err, /did you mean seed/);
  assert.equal(JSON.parse(r.out).error.code, 'E_SCENARIO_INVALID');
  const sim = join(SCENARIOS, 'tiny.yaml');
  r = await run(['audit', 'attack', '--scenario', sim]);
  assert.equal(r.code, 2);
  assert.match(r.err, /tiny\.yaml is a simulation scenario .*: run "fedistill simulate .*tiny\.yaml" \[E_SCENARIO_INVALID\]/);
});

// Without worker threads, and with them (the default): a worker inside onnxruntime when the process
// exits made it abort (exit 134), so with workers the signal ends the process as the OS would.
for (const workers of ['0', 'default'] as const) {
  test(`SIGINT during simulate (workers: ${workers}) prints one line saying it was interrupted and what was kept, and exits 130`, { timeout: 90_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'fedistill-sigint-'));
    try {
      // More rounds than tiny.yaml's 2, so that sites are still answering in their workers when interrupted.
      const scenario = join(out, 'long.yaml');
      writeFileSync(scenario, readFileSync(join(SCENARIOS, 'tiny.yaml'), 'utf8').replace(/^rounds: 2$/m, 'rounds: 8'));
      const args = [BIN, 'simulate', scenario, '--out', join(out, 'run'), ...(workers === '0' ? ['--workers', '0', '--no-baselines'] : [])];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let signalled = false;
      child.stderr.setEncoding('utf8').on('data', (t: string) => {
        stderr += t;
        // Once rounds are going, interrupt the run as Ctrl-C would, while the sites digest round 2
        // (onnxruntime busy in their workers: where exiting used to abort).
        if (!signalled && /round 2\/8/.test(stderr)) { signalled = true; setTimeout(() => child.kill('SIGINT'), 150); }
      });
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      assert.ok(signalled, stderr);
      // a shell reports 130 either way: exit status 130, or ended by SIGINT
      assert.ok(code === 130 || (code === null && signal === 'SIGINT'), `code ${code}, signal ${signal}: ${stderr}`);
      const line = stderr.split('\n').filter((l) => l.startsWith('simulate: interrupted'));
      assert.equal(line.length, 1, stderr);
      assert.match(line[0]!, /^simulate: interrupted \(SIGINT\); kept .*aggregator\.db \(the rounds finished so far.*\); no report was written$/);
      assert.ok(existsSync(join(out, 'run', 'aggregator.db')));
      assert.ok(!existsSync(join(out, 'run', 'report.json')));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test('an --out that cannot be a folder (a path through a file) is a user error naming it, not an internal error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-out-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const r = await run(['simulate', join(SCENARIOS, 'tiny.yaml'), '--out', join(file, 'run')]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /cannot create the output folder .*a-file\/run \(ENOTDIR\): --out must name a folder .*\[E_FILE_WRITE\]/);
    assert.doesNotMatch(r.err, /internal error/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
