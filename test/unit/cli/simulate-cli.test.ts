// `fedistill simulate` and `audit attack` given each other's scenario say which command runs it; Ctrl-C says what was kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../../cli/main.ts';
import { describePlan, planRun } from '../../../server/run-plan.ts';
import { loadScenario } from '../../../simulations/scenario.ts';
import { inMemoryRunConfig } from '../../../simulations/sim-aggregator.ts';

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

test('audit attack --seeds with an empty item ("1,,2", "1,", "") is a usage error, not seed 0', async () => {
  const attack = join(SCENARIOS, 'attack-tiny.yaml');
  for (const seeds of ['1,,2', '1,', '', ' ']) {
    const r = await run(['audit', 'attack', '--scenario', attack, '--seeds', seeds, '--json']);
    assert.equal(r.code, 2, `${JSON.stringify(seeds)}: ${r.err}`);
    assert.equal(JSON.parse(r.out).error.code, 'E_USAGE');
    assert.match(r.err, /--seeds takes comma-separated non-negative integers/);
  }
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
      // without workers also --json: the interrupted command still prints its one object on stdout
      const args = [BIN, 'simulate', scenario, '--out', join(out, 'run'), ...(workers === '0' ? ['--workers', '0', '--no-baselines', '--json'] : [])];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
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
      if (workers === '0') {
        const j = JSON.parse(stdout);
        assert.deepEqual([j.ok, j.exit_code, j.error.code], [false, 130, 'E_INTERRUPTED']);
        assert.equal(j.error.message, line[0]);
      } else assert.equal(stdout, '');
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

test('loopback-only refusals are usage errors (exit 2) raised before data is loaded or the output folder is made', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-lb-refuse-'));
  try {
    const tiny = readFileSync(join(SCENARIOS, 'tiny.yaml'), 'utf8');
    const cases: [string, string, RegExp][] = [
      [tiny.replace(/^ {2}model: mlp$/m, '  model: mlp-small'), 'E_SCENARIO_LOOPBACK_MODEL',
        /^fedistill simulate: sites\.model: site-1 uses model "mlp-small", but site processes accept only mlp or cnn: .*--mode in-process \[E_SCENARIO_LOOPBACK_MODEL\]$/m],
      [tiny.replace(/^ {2}model: mlp$/m, '  models: [mlp, cnn, mlp-tiny]'), 'E_SCENARIO_LOOPBACK_MODEL', /^fedistill simulate: sites\.models\[2\]: site-3 uses model "mlp-tiny"/m],
      [tiny.replace('{ scheme: dirichlet, alpha: 1.0 }', '{ scheme: quantity, sigma: 2 }'), 'E_SCENARIO_LOOPBACK_PARTITION',
        /^fedistill simulate: data\.partition\.sigma: site processes cannot set it .*--mode in-process \[E_SCENARIO_LOOPBACK_PARTITION\]$/m],
    ];
    for (const [i, [yaml, code, message]] of cases.entries()) {
      assert.notEqual(yaml, tiny, `case ${i} changed nothing`);
      const scenario = join(dir, `case-${i}.yaml`);
      writeFileSync(scenario, yaml);
      const out = join(dir, `out-${i}`);
      const r = await run(['simulate', scenario, '--mode', 'loopback', '--out', out, '--no-baselines']);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.ok(r.err.endsWith(`[${code}]\n`), r.err);
      // nothing was started: no progress line, no output folder, no site process
      assert.doesNotMatch(r.err, /^(scenario|data|local training|aggregator)/m);
      assert.ok(!existsSync(out), `case ${i} created ${out}`);
    }
    // a valid scenario (in-process runs it): the refusal is loopback's alone
    const ok = loadScenario(join(dir, 'case-2.yaml'));
    assert.equal(ok.data.partition.sigma, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate logs the aggregator\'s privacy plan before any site trains, in both modes (the lines `privacy plan` prints)', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-plan-'));
  try {
    // A budget that round 2 would exceed: the plan has its second line, and the run stops after round 1.
    const scenario = join(dir, 'tight.yaml');
    writeFileSync(scenario, readFileSync(join(SCENARIOS, 'tiny.yaml'), 'utf8').replace(/^ {2}epsilon: 1000$/m, '  epsilon: 60'));
    const s = loadScenario(scenario);
    assert.equal(s.privacy.epsilon, 60);
    const expected = describePlan(planRun(inMemoryRunConfig(s, join(dir, 'x.db')), 10, 200));
    assert.equal(expected.length, 2);
    assert.match(expected[1]!, /the budget stops the run after round 1 of 2/);
    for (const mode of ['in-process', 'loopback']) {
      const out = join(dir, mode);
      const r = await run(['simulate', scenario, '--mode', mode, '--out', out, '--workers', '0', '--no-baselines']);
      assert.equal(r.code, 0, r.err);
      const lines = r.err.split('\n');
      const plan = lines.filter((l) => l.startsWith('privacy plan: '));
      assert.deepEqual(plan, expected, `${mode}: ${r.err}`);
      const firstPlan = lines.indexOf(expected[0]!);
      const training = lines.findIndex((l) => /^(local training|aggregator listening|site site-\d joined)/.test(l));
      assert.ok(training > firstPlan, `${mode}: the plan comes after training started: ${r.err}`);
      if (mode === 'loopback') {
        // the deployment's own command, on the run.yaml the loopback aggregator runs, prints the same plan
        const p = await run(['privacy', 'plan', '--config', join(out, 'deployment', 'run.yaml')]);
        assert.equal(p.code, 0, p.err);
        for (const l of plan) assert.ok(p.out.includes(l.replace(/^privacy plan: /, '')), `${l} not in: ${p.out}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
