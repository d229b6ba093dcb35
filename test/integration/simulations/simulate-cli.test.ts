// `fedistill simulate`: the JSON summary, the progress on stderr, and user errors as one line with a code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';

function capture() {
  const io = { stdout: '', stderr: '', out(t: string) { io.stdout += t + '\n'; }, err(t: string) { io.stderr += t + '\n'; } };
  return io;
}

test('simulate --json prints one JSON summary and writes the report', async () => {
  const out = mkdtempSync(join(tmpdir(), 'fedistill-cli-sim-'));
  try {
    const io = capture();
    const code = await runCli(['simulate', 'simulations/scenarios/tiny.yaml', '--out', out, '--json', '--no-baselines', '--workers', '0'], io);
    assert.equal(code, 0, io.stderr);
    const summary = JSON.parse(io.stdout.trim());
    assert.equal(summary.scenario, 'tiny');
    assert.equal(summary.mode, 'in-process');
    assert.equal(summary.status, 'complete');
    assert.equal(summary.privacy.replay_matches, true);
    assert.equal(summary.summary.fedavg_accuracy, null);
    assert.ok(existsSync(summary.files.html));
    assert.match(io.stderr, /round 2\/2: 3 sites, ε = /, 'progress on stderr');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a missing or invalid scenario is one line with a stable code', async () => {
  const io = capture();
  assert.equal(await runCli(['simulate', 'nope.yaml'], io), 1);
  assert.match(io.stderr, /cannot read scenario nope.yaml.*\[E_SCENARIO_MISSING\]/);
  assert.doesNotMatch(io.stderr, /at .*\.ts:\d+/, 'no stack trace');
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-cli-bad-'));
  try {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'name: bad\nrounds: 2\ndata: { dataset: \'mnist:train[0:100]\', public_set: \'mnist:test[0:10]\', eval_set: \'mnist:test[10:20]\' }\nsites: { count: 2 }\nstrategy: { name: dsfl }\nfaults: { dropout: 2 }\n');
    const io2 = capture();
    assert.equal(await runCli(['simulate', file], io2), 2);
    assert.match(io2.stderr, /faults.dropout: must be ≤ 1, got 2 \[E_SCENARIO_INVALID\]/);
    const io3 = capture();
    assert.equal(await runCli(['simulate', 'simulations/scenarios/tiny.yaml', '--mode', 'cloud'], io3), 2);
    assert.match(io3.stderr, /--mode must be one of in-process, loopback/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad split spec is refused before a previous run\'s database in --out is removed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-cli-keep-'));
  try {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, readFileSync('simulations/scenarios/tiny.yaml', 'utf8').replace('public_set: mnist:test[0:200]', 'public_set: mnist:test[0:20000]'));
    const out = join(dir, 'out');
    mkdirSync(join(out, 'deployment'), { recursive: true });
    writeFileSync(join(out, 'aggregator.db'), 'an earlier run');
    const io = capture();
    assert.equal(await runCli(['simulate', file, '--out', out, '--workers', '0'], io), 2);
    assert.match(io.stderr, /end 20000 is outside 0\.\.10000.*\[E_BAD_SPLIT_SPEC\]/);
    assert.equal(readFileSync(join(out, 'aggregator.db'), 'utf8'), 'an earlier run');
    assert.ok(existsSync(join(out, 'deployment')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
