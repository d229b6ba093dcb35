// Loopback mode: sites as real `fedistill client` processes over websockets give the same numbers as in-process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenario } from '../../../simulations/scenario.ts';
import { runSimulation, type SimulationResult } from '../../../simulations/run-simulation.ts';

test('tiny.yaml gives identical rounds, accuracies and bytes in loopback and in-process mode (seeded noise)', async () => {
  const s = loadScenario('simulations/scenarios/tiny.yaml');
  const dirs = [mkdtempSync(join(tmpdir(), 'fedistill-lb-')), mkdtempSync(join(tmpdir(), 'fedistill-ip-'))];
  try {
    const lines: string[] = [];
    const lb = (await runSimulation(s, { mode: 'loopback', out: dirs[0]!, log: (l) => lines.push(l), noBaselines: true })) as SimulationResult;
    const ip = (await runSimulation(s, { mode: 'in-process', out: dirs[1]!, log: () => {}, noBaselines: true, workers: 0 })) as SimulationResult;
    assert.equal(lb.report.scenario.mode, 'loopback');
    assert.ok(lines.some((l) => /joined run tiny/.test(l)), 'site processes reported progress');
    assert.equal(lb.report.status, 'complete');
    // Bytes can differ by a heartbeat frame or two (they are timed), everything else must be identical.
    const noBytes = (rs: typeof lb.report.rounds) => rs.map(({ bytes_up: _u, bytes_down: _d, ...rest }) => rest);
    assert.deepEqual(noBytes(lb.report.rounds), noBytes(ip.report.rounds));
    lb.report.rounds.forEach((x, i) => {
      const y = ip.report.rounds[i]!;
      assert.ok(Math.abs(x.bytes_up + x.bytes_down - y.bytes_up - y.bytes_down) < 0.02 * (y.bytes_up + y.bytes_down), `round ${i + 1} bytes`);
    });
    assert.deepEqual(lb.report.sites.map((x) => [x.name, x.local_only_accuracy, x.final_accuracy]),
      ip.report.sites.map((x) => [x.name, x.local_only_accuracy, x.final_accuracy]));
    assert.equal(lb.report.privacy.epsilon, ip.report.privacy.epsilon);
    assert.ok(lb.report.privacy.replay_matches);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
