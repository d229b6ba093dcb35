// `fedistill simulate` and `audit attack` given each other's scenario say which command runs it; Ctrl-C says what was kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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

test('SIGINT during simulate prints one line saying it was interrupted and what was kept, and exits 130', { timeout: 60_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'fedistill-sigint-'));
  try {
    const child = spawn(process.execPath, [BIN, 'simulate', join(SCENARIOS, 'tiny.yaml'), '--out', out, '--workers', '0', '--no-baselines'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let signalled = false;
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      stderr += t;
      // Once the run has started (the first site joined), interrupt it as Ctrl-C would.
      if (!signalled && /joined/.test(stderr)) { signalled = true; child.kill('SIGINT'); }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.ok(signalled, stderr);
    assert.equal(code, 130, stderr);
    const line = stderr.split('\n').filter((l) => l.startsWith('simulate: interrupted'));
    assert.equal(line.length, 1, stderr);
    assert.match(line[0]!, /^simulate: interrupted \(SIGINT\); kept .*aggregator\.db \(the rounds finished so far.*\); no report was written$/);
    assert.ok(existsSync(join(out, 'aggregator.db')));
    assert.ok(!existsSync(join(out, 'report.json')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
