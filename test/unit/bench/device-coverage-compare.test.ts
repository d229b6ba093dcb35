// The GPU coverage comparison fails a case on anything outside the parity bars: NaN, another shape, other accuracies, CPU fallbacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareCase, maxRelDiff, TOLERANCES } from '../../../bench/device-coverage/compare.ts';
import type { CaseResult } from '../../../bench/device-coverage/run-case.ts';

function result(device: string, over: Partial<CaseResult> = {}): CaseResult {
  return {
    device, epochs: [{ loss: 0.5, accuracy: 0.75 }], weights: [[1, -2, 3], [0.5]], buffers: [[0.1, 0.2]],
    probs: [0.2, 0.8], evaluate: { loss: 0.6, accuracy: 0.5 }, exportedProbs: [0.2, 0.8], seconds: 1, ...over,
  };
}
const onGpu = { byProvider: { WebGpu: { Gemm: 4 }, CPU: { Gather: 2 } }, cpuReadsData: [], toHost: 0 };

test('maxRelDiff is relative for large values, absolute near zero, and null for NaN or another length', () => {
  assert.equal(maxRelDiff([0.001], [0]), 0.001);
  assert.equal(maxRelDiff([101], [100]), 1 / 101);
  assert.equal(maxRelDiff([1, Number.NaN], [1, 2]), null);
  assert.equal(maxRelDiff([Number.NaN, 1], [1, 1]), null, 'a NaN before a finite pair is not forgotten');
  assert.equal(maxRelDiff([1, 2], [1]), null);
});

test('identical runs pass; each bar missed fails the case and says which', () => {
  const same = compareCase(result('cpu'), result('webgpu', { placement: onGpu }), 'webgpu');
  assert.equal(same.pass, true, same.failures.join('; '));
  assert.deepEqual(same.placement, { cpuReadsGpuData: [], memcpyToHost: 0, cpuOps: ['Gather'], gpuKernels: 4 });
  const cases: [Partial<CaseResult>, RegExp][] = [
    [{ weights: [[1, -2, Number.NaN], [0.5]] }, /weights: shapes or values differ/],
    [{ buffers: [[0.1]] }, /buffers: shapes or values differ/],
    [{ epochs: [{ loss: 0.5 + 5 * TOLERANCES.losses, accuracy: 0.75 }] }, /losses: .* > 0\.0001/],
    [{ evaluate: { loss: 0.6, accuracy: 0.25 } }, /accuracies differ/],
    [{ exportedProbs: [0.2 + 1e-4, 0.8] }, /exportedVsPredict: .* > 0\.00001/],
    [{ placement: { ...onGpu, cpuReadsData: ['Sign(float)'], toHost: 1 } }, /CPU nodes read GPU data: Sign\(float\)/],
    [{ placement: { ...onGpu, byProvider: { CPU: { Gemm: 4 } } } }, /no WebGpu Gemm or Conv kernels/],
    [{ device: 'cpu' }, /the webgpu run ran on cpu/],
  ];
  for (const [over, why] of cases) {
    const c = compareCase(result('cpu'), result('webgpu', { placement: onGpu, ...over }), 'webgpu');
    assert.equal(c.pass, false, String(why));
    assert.match(c.failures.join('; '), why);
  }
});
