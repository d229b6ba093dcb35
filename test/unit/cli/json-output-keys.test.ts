// Every machine-readable output (--json, report.json) has snake_case keys; only maps keyed by data (site names) keep theirs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/main.ts';
import { siteSummaryJson } from '../../../cli/commands/client.ts';
import { runSummaryJson } from '../../../cli/commands/server.ts';
import { startSummary } from '../../../cli/commands/start.ts';
import { attackReportJson } from '../../../cli/commands/audit-attack.ts';
import type { AttackReport } from '../../../shared/audit/attacks/attack-run.ts';
import { keysWithCapitals } from './json-keys.ts';

async function json(argv: string[]): Promise<unknown> {
  let out = '', err = '';
  await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  assert.equal(out.trim().split('\n').length, 1, `one JSON line from ${argv.join(' ')}; stderr:\n${err}`);
  return JSON.parse(out);
}

function assertSnakeCase(value: unknown, what: string, dataMaps: readonly string[] = []): void {
  assert.deepEqual(keysWithCapitals(value, dataMaps), [], `${what}: keys with capitals`);
}

test('the helper finds a camelCase key at any depth, but not the keys of a data map', () => {
  assert.deepEqual(keysWithCapitals({ a: [{ b: { numClasses: 1 } }], site_accuracy: { 'Site-A': 1 } }, ['site_accuracy']), ['$.a[0].b.numClasses']);
  assert.deepEqual(keysWithCapitals({ site_accuracy: { 'Site-A': { meanAccuracy: 1 } } }, ['site_accuracy']), ['$.site_accuracy.Site-A.meanAccuracy']);
});

test('data list, data inspect, data partition, keys generate/show, --version and an error print snake_case keys', async () => {
  assertSnakeCase(await json(['data', 'list', '--json']), 'data list');
  const inspect = await json(['data', 'inspect', 'mnist:train[:100]', '--json']) as { num_classes: number; splits: { label_counts: number[] }[] };
  assertSnakeCase(inspect, 'data inspect');
  assert.equal(inspect.num_classes, 10);
  assert.equal(inspect.splits[0]!.label_counts.reduce((a, b) => a + b, 0), 100);
  const partition = await json(['data', 'partition', '--dataset', 'mnist:train[:200]', '--clients', '3', '--scheme', 'dirichlet', '--seed', '1', '--json', '--indices']) as {
    params: Record<string, number>; summary: { mean_classes_present: number };
  };
  assertSnakeCase(partition, 'data partition');
  assert.ok('min_size' in partition.params && partition.summary.mean_classes_present > 0);
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-json-keys-'));
  try {
    const key = join(dir, 'site.key');
    const generated = await json(['keys', 'generate', '--out', key, '--json']) as { public_key: string };
    assertSnakeCase(generated, 'keys generate');
    const shown = await json(['keys', 'show', key, '--json']) as { public_key: string };
    assertSnakeCase(shown, 'keys show');
    assert.equal(shown.public_key, generated.public_key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assertSnakeCase(await json(['--version', '--json']), '--version');
  assertSnakeCase(await json(['data', 'inspect', 'nope:train', '--json']), 'an error');
});

test('client, server and start --json: snake_case keys; site names under bytes, site_metrics keep their spelling', () => {
  const site = JSON.parse(siteSummaryJson({
    runId: 'r1', roundsDigested: 2, baselineAccuracy: 0.8, finalAccuracy: 0.9, ledgerEpsilon: 3.5, ledgerDelta: 1e-5,
    bytesSent: 100, bytesReceived: 200, site: 'Site-A', studentOut: '/runs/student.onnx',
  }, '/runs/Site-A.ledger.jsonl'));
  assertSnakeCase(site, 'client');
  const failures = [{ site: 'Site-B', reason: 'timeout' as const, detail: 'no reply in 20 s' }];
  const server = runSummaryJson({
    runId: 'r1', status: 'stalled', epsilon: 1.5, delta: 1e-5, database: '/runs/fedistill.db',
    rounds: [{ round: 0, participants: ['Site-A'], failures, epsilon: 1.5, metrics: { replies: 1, noise_std: 2 }, siteMetrics: { 'Site-A': { accuracy: 0.9 } }, resumed: false }],
    bytes: { 'Site-A': { sent: 10, received: 20 } },
    stalled: { round: 1, attempts: 3, replies: 1, quorum: 2, failures },
  });
  assertSnakeCase(server, 'server', ['bytes', 'site_metrics', 'metrics']);
  assert.deepEqual(Object.keys(server.bytes), ['Site-A']);
  assert.deepEqual(Object.keys(server.rounds[0]!.site_metrics), ['Site-A']);
  const start = startSummary({ aggregator: { summary: server }, sites: [{ summary: site }], database: '/runs/fedistill.db', dir: '/runs' }, 'KEY=', 1);
  assertSnakeCase(start, 'start');
  assert.deepEqual([start.sites[0]!.bytes_sent, start.sites[0]!.bytes_received, start.sites[0]!.own_epsilon], [20, 10, 3.5]);
});

test('audit attack --json: snake_case keys; release names keep their spelling', () => {
  const bound = { epsilonLowerBound: 0.1, tpr: 0.6, fpr: 0.4, tprLower: 0.5, fprUpper: 0.5, threshold: -1, delta: 1e-5, confidence: 0.95, selection: { members: 50, nonMembers: 50 }, evaluation: { members: 50, nonMembers: 50 } };
  const figures = { auc: 0.52, epsilonLowerBound: bound, members: 100, nonMembers: 100 };
  const release = { meanExposure: 1, exposures: [1], secretTop1: 0, studentAccuracy: 0.9, epsilon: null, releasedRows: 1, releasedCanaryRows: 1 };
  const report: AttackReport = {
    scenario: 's', seeds: [1], delta: 1e-5, confidence: 0.95, noise: 'seeded', pass: true, seconds: 1,
    canary: {
      compare: 'swingGated', meanExposure: { plain: 1, swingGated: 0.1 }, reduction: 0.9, reductionPerSeed: [0.9], minReduction: 0.9, targetReduction: 0.5, pass: true,
      runs: [{ seed: 1, teacherAccuracy: 0.9, canaryTeacherRecall: 1, maxExposure: 6.6, chanceExposure: 1, publicRows: 100, releases: { plain: release, swingGated: { ...release, epsilon: 2 } } }],
    },
    membership: {
      meanAuc: 0.52, maxAucDeviation: 0.02, aucTolerance: 0.1, maxEpsilonLowerBound: 0.1, epsilon: 2, pass: true,
      runs: [{ seed: 1, release: { queries: 10, sigma: 5, epsilon: 2, delta: 1e-5, labelAccuracy: 0.9 }, teacherAccuracy: 0.9, studentAccuracy: 0.8, student: figures, teachers: figures }],
    },
  };
  const j = attackReportJson(report);
  assertSnakeCase(j, 'audit attack', ['releases', 'mean_exposure']);
  assert.equal(j.ok, report.pass, '`ok` says what the exit code says');
  assert.deepEqual(Object.keys(j.canary!.runs[0]!.releases), ['plain', 'swingGated']);
  assert.equal(j.membership!.runs[0]!.student.epsilon_lower_bound.selection.non_members, 50);
});

test('simulate --json and the report folder (report.json, version 2) have snake_case keys', async () => {
  const out = mkdtempSync(join(tmpdir(), 'fedistill-json-keys-sim-'));
  try {
    const summary = await json(['simulate', 'simulations/scenarios/tiny.yaml', '--out', out, '--json', '--workers', '0']) as { files: { json: string; csv: string } };
    assertSnakeCase(summary, 'simulate --json');
    const report = JSON.parse(readFileSync(summary.files.json, 'utf8'));
    assertSnakeCase(report, 'report.json', ['site_accuracy']);
    assert.deepEqual(report.fedistill, { report: 'simulation', version: 2 });
    assert.ok(report.baselines.centralized && report.baselines.fedavg, 'the baselines are checked too');
    const metrics = new Set(readFileSync(summary.files.csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[3]!));
    assert.deepEqual([...metrics].filter((m) => /[A-Z]/.test(m)), [], 'metrics.csv metric names');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
