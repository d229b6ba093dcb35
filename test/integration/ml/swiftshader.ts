// The webgpu tests' driver: Chromium's SwiftShader, a CPU Vulkan driver that onnxruntime's WebGPU provider (Dawn) accepts.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { resolveDevice } from '../../../shared/ml/runtime.ts';

export const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * The environment that points child processes' webgpu at SwiftShader; or, on a machine without it,
 * undefined after checking the one thing left to check there: webgpu either resolves (a real GPU)
 * or fails with E_DEVICE_UNAVAILABLE saying how to get Vulkan.
 */
export async function swiftShaderEnv(t: TestContext): Promise<NodeJS.ProcessEnv | undefined> {
  if (!existsSync(SWIFTSHADER)) {
    try { assert.equal(await resolveDevice('webgpu'), 'webgpu'); } catch (e) {
      assert.equal((e as { code?: string }).code, 'E_DEVICE_UNAVAILABLE');
      assert.match(String(e), /Vulkan/);
    }
    t.diagnostic(`${SWIFTSHADER} not found: checked only how webgpu resolves`);
    return undefined;
  }
  return { ...process.env, VK_DRIVER_FILES: SWIFTSHADER, VK_ICD_FILENAMES: SWIFTSHADER, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
}
