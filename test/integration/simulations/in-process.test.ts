// In-process simulations end to end: report files, baselines, reproducibility, and faults with an honest ledger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenario, validateScenario } from '../../../simulations/scenario.ts';
import { runSimulation, type SimulationResult } from '../../../simulations/run-simulation.ts';
import { loadAuditSource } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';

const quiet = () => {};

function tinyRaw(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'itest', seed: 2, rounds: 2,
    data: { dataset: 'mnist:train[0:500]', public_set: 'mnist:test[0:150]', eval_set: 'mnist:test[9000:9200]', partition: { scheme: 'dirichlet', alpha: 1 } },
    sites: { count: 3, model: 'mlp-tiny', local: { epochs: 1, batch: 32, lr: 0.003 }, digest: { epochs: 1, private_mix: 100 } },
    strategy: { name: 'dsfl', queries_per_round: 60 },
    privacy: { noise_multiplier: 2, test_noise_seed: 11 },
    round_timeout_s: 20,
    baselines: { centralized: false, fedavg: false },
    ...extra,
  };
}

async function simulate(raw: Record<string, unknown>, name: string, workers: number, inspect?: (out: string) => void): Promise<SimulationResult> {
  const out = mkdtempSync(join(tmpdir(), `fedistill-sim-${name}-`));
  try {
    const r = await runSimulation(validateScenario(raw), { mode: 'in-process', out, log: quiet, concurrency: 2, workers });
    assert.ok(!('pate' in r));
    inspect?.(out);
    return r as SimulationResult;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

test('the tiny scenario writes report.json, metrics.csv, SVG+PNG charts and an offline report.html', async () => {
  const out = mkdtempSync(join(tmpdir(), 'fedistill-sim-tiny-'));
  try {
    const r = await runSimulation(loadScenario('simulations/scenarios/tiny.yaml'), { mode: 'in-process', out, log: quiet, concurrency: 2, workers: 0 });
    assert.ok(!('pate' in r));
    const { report, files } = r as SimulationResult;
    assert.equal(report.status, 'complete');
    assert.equal(report.rounds.length, 2);
    assert.equal(report.sites.length, 3);
    assert.ok(report.privacy.epsilon > 0);
    assert.ok(report.privacy.replay_matches, `ledger ε ${report.privacy.epsilon} vs replay ${report.privacy.ledger_replay_epsilon}`);
    assert.ok(report.rounds.every((x) => x.bytes_up > 0 && x.bytes_down > 0));
    assert.ok(report.rounds[1]!.epsilon > report.rounds[0]!.epsilon);
    // baselines: FedAvg bytes are 2 × params × 4 B × sites per round; centralized has a curve
    const fa = report.baselines.fedavg!;
    assert.ok(!fa.skipped);
    if (!fa.skipped) {
      assert.equal(fa.rounds.length, 2);
      for (const x of fa.rounds) assert.equal(x.bytes, 2 * fa.parameters * 4 * 3);
      assert.ok(report.summary.total_bytes * 10 < fa.total_bytes, 'distillation moves far fewer bytes than FedAvg');
    }
    assert.equal(report.baselines.centralized!.per_epoch.length, 2);
    for (const f of [files.json, files.csv, files.html, ...files.charts]) assert.ok(existsSync(f), f);
    assert.equal(files.charts.length, 8);
    assert.deepEqual(JSON.parse(readFileSync(files.json, 'utf8')).privacy, report.privacy);
    const csv = readFileSync(files.csv, 'utf8').split('\n');
    assert.equal(csv[0], 'source,round,site,metric,value');
    assert.ok(csv.some((l) => l.startsWith('distillation,2,all,epsilon,')));
    assert.ok(csv.some((l) => l.startsWith('fedavg,1,global,accuracy,')));
    const html = readFileSync(files.html, 'utf8');
    assert.equal((html.match(/<svg /g) ?? []).length, 4);
    assert.doesNotMatch(html, /<script|<link|src=|url\(/i, 'no external or scripted resources');
    assert.match(html, /NOT private/, 'seeded noise is flagged');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('the same scenario and seed give the same numbers with sites in worker threads or in the main thread', async () => {
  const a = await simulate(tinyRaw(), 'a', 0);
  const b = await simulate(tinyRaw(), 'b', 2);
  assert.deepEqual(a.report.rounds, b.report.rounds);
  assert.deepEqual(a.report.sites.map((s) => s.final_accuracy), b.report.sites.map((s) => s.final_accuracy));
});

test('30% dropout, a disconnect, a site crash and an aggregator crash: the run completes and ε equals the ledger replay', async () => {
  let html = '';
  const r = await simulate(tinyRaw({
    name: 'faults', rounds: 4, quorum: 1,
    sites: { count: 5, model: 'mlp-tiny', local: { epochs: 1, batch: 32 }, digest: { epochs: 1, private_mix: 50 } },
    faults: { dropout: 0.3, latency_ms: 2, disconnects: [{ site: 2, round: 1 }], site_crashes: [{ site: 4, round: 2 }], aggregator_crash_round: 1 },
  }), 'faults', 2, (out) => {
    html = readFileSync(join(out, 'report.html'), 'utf8');
    // The simulation keeps the same signed audit log as a deployment, across the aggregator's restart.
    const { log, close } = loadAuditSource(join(out, 'aggregator.db'), 'faults');
    try {
      const v = verifyAuditLog(log);
      assert.equal(v.ok, true, JSON.stringify(v.problem));
      assert.equal(v.releases.length, 4);
      assert.ok(v.entries.some((e) => e.kind === 'site_joined'));
    } finally { close(); }
  });
  const { report } = r;
  assert.equal(report.status, 'complete');
  assert.deepEqual(report.rounds.map((x) => x.round), [0, 1, 2, 3]);
  assert.equal(report.aggregator_restarts, 1);
  const kinds = new Set(report.faults.map((f) => f.fault));
  assert.ok(kinds.has('dropout') && kinds.has('disconnect') && kinds.has('crash'), JSON.stringify(report.faults));
  assert.ok(report.sites.find((s) => s.name === 'site-4')!.crashed);
  for (const x of report.rounds.filter((x) => x.round >= 2)) assert.ok(!('site-4' in x.site_accuracy));
  assert.ok(report.rounds.some((x) => x.failures.some((f) => f.reason === 'timeout')), 'dropouts show as timeouts');
  assert.ok(report.privacy.replay_matches, `ledger ε ${report.privacy.epsilon} vs replay ${report.privacy.ledger_replay_epsilon}`);
  assert.equal(report.privacy.ledger_events, 4, 'one charge per released round, none for the crashed attempt');
  // the headline means cover the same sites, those that did not crash (the local-only one held site-4 too)
  const finished = report.sites.filter((s) => !s.crashed);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.equal(report.summary.sites_in_means, 4);
  assert.equal(report.summary.mean_local_only_accuracy, mean(finished.map((s) => s.local_only_accuracy!)));
  assert.equal(report.summary.mean_final_accuracy, mean(finished.map((s) => s.final_accuracy!)));
  // and the chart and the page say what they average
  assert.match(html, /local-only \(mean over the 4 sites that did not crash\)/);
  assert.match(html, /\(mean of participants\)/i);
});
