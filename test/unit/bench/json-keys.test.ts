// bench/json-keys.ts: the benches' printed JSON keys are snake_case; values, arrays and data-keyed maps are left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { camelCaseKey, camelCaseKeys, snakeCaseKey, snakeCaseKeys } from '../../../bench/json-keys.ts';

test('snakeCaseKey splits camelCase humps, keeps binary units one word, and leaves other keys as they are', () => {
  assert.equal(snakeCaseKey('floodMs'), 'flood_ms');
  assert.equal(snakeCaseKey('frameMiB'), 'frame_mib');
  assert.equal(snakeCaseKey('msPerMiB'), 'ms_per_mib');
  assert.equal(snakeCaseKey('maxRelDiff'), 'max_rel_diff');
  assert.equal(snakeCaseKey('gpuRTTMs'), 'gpu_rtt_ms');
  for (const k of ['test_accuracy', 'mlp1024_b512', 'p50', 'ratio_1mib', 'CPU', 'WebGpu', 'MatMul', 'dense-layers', 'plain, reply T=1', '1MiB', '']) {
    assert.equal(snakeCaseKey(k), k);
  }
  assert.equal(camelCaseKey('exported_probs'), 'exportedProbs');
  for (const k of ['probs', 'E_INBOUND_RATE_EXCEEDED', 'two-steps-per-run', 'WebGpu']) assert.equal(camelCaseKey(k), k);
});

test('snakeCaseKeys converts nested objects and objects in arrays, and leaves values untouched', () => {
  const soft = new Float32Array([0.25, 0.75]);
  const input = {
    bench: 'inbound-flood', floodMs: 4000, frameMiB: 16,
    scenarios: [
      { scenario: 'budgets off', flooder: { framesSent: 12, closes: {} }, honestRequestRttMs: { p50: 1.5, max: null } },
      { scenario: 'defaults', flooder: { framesSent: 3 }, eventLoopDelayMs: { p50: 0.1 } },
    ],
    nested: [[{ innerKey: 'camelCaseValue' }], 'someString', 7, true, null],
    soft,
  };
  const before = structuredClone(input);
  const out = snakeCaseKeys(input);
  assert.deepEqual(out, {
    bench: 'inbound-flood', flood_ms: 4000, frame_mib: 16,
    scenarios: [
      { scenario: 'budgets off', flooder: { frames_sent: 12, closes: {} }, honest_request_rtt_ms: { p50: 1.5, max: null } },
      { scenario: 'defaults', flooder: { frames_sent: 3 }, event_loop_delay_ms: { p50: 0.1 } },
    ],
    nested: [[{ inner_key: 'camelCaseValue' }], 'someString', 7, true, null],
    soft,
  });
  assert.equal((out as { soft: Float32Array }).soft, soft, 'a typed array is a value: passed through as it is');
  assert.deepEqual(input, before, 'the input is not changed');
  assert.deepEqual(Object.keys(out as object), ['bench', 'flood_ms', 'frame_mib', 'scenarios', 'nested', 'soft'], 'key order kept');
});

test('keys of the objects at the data paths are kept; their values are still converted', () => {
  const comparison = {
    cases: {
      'dense-layers': { maxRelDiff: { exportedVsPredict: 1e-6 }, placement: { cpuOps: ['Gather'] } },
      someCase: { accuraciesEqual: true },
    },
    tolerances: { exportedVsPredict: 1e-5 },
  };
  assert.deepEqual(snakeCaseKeys(comparison, ['cases']), {
    cases: {
      'dense-layers': { max_rel_diff: { exported_vs_predict: 1e-6 }, placement: { cpu_ops: ['Gather'] } },
      someCase: { accuracies_equal: true },
    },
    tolerances: { exported_vs_predict: 1e-5 },
  });
  // paths are spelled as printed, `*` for any one key, '' for the root; arrays are transparent
  const raw = { pools: { exportedProbs: [0.5], placement: { byProvider: { WebGpu: { MatMul: 3 }, someProvider: { someOp: 1 } }, toHost: 0 } } };
  const dataKeys = ['', '*.placement.by_provider', '*.placement.by_provider.*'];
  const printed = snakeCaseKeys(raw, dataKeys);
  assert.deepEqual(printed, { pools: { exported_probs: [0.5], placement: { by_provider: { WebGpu: { MatMul: 3 }, someProvider: { someOp: 1 } }, to_host: 0 } } });
  assert.deepEqual(camelCaseKeys(JSON.parse(JSON.stringify(printed)), dataKeys), raw, 'camelCaseKeys reads printed results back');
  assert.deepEqual(snakeCaseKeys([{ aB: { cD: 1 } }], ['*']), [{ a_b: { cD: 1 } }]);
});
