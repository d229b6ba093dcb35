// Files are read only up to a limit: fstat decides for regular files, a running count for devices and pipes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileUpTo } from '../../../shared/util/bounded-read.ts';
import { MAX_CONFIG_BYTES, readYamlFile } from '../../../shared/util/yaml-file.ts';

function inDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-bounded-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('a regular file within the limit is read whole; one over it is refused from fstat, without reading', () => inDir((dir) => {
  const p = join(dir, 'a.txt');
  writeFileSync(p, 'hello');
  const ok = readFileUpTo(p, 5);
  assert.ok(ok.ok && ok.bytes.toString() === 'hello');
  assert.deepEqual(readFileUpTo(p, 4), { ok: false, why: 'too_large', size: 5 });
  writeFileSync(p, '');
  assert.ok((readFileUpTo(p, 0) as { bytes: Buffer }).bytes.length === 0);
  // 3 GiB, sparse: a whole read would fail or take gigabytes
  truncateSync(p, 3 * 1024 ** 3);
  assert.deepEqual(readFileUpTo(p, 1024), { ok: false, why: 'too_large', size: 3 * 1024 ** 3 });
}));

test('a device that never ends is read only to the limit, or refused at once with regularOnly', () => {
  assert.deepEqual(readFileUpTo('/dev/zero', 100_000), { ok: false, why: 'too_large', size: undefined });
  assert.deepEqual(readFileUpTo('/dev/zero', 100_000, { regularOnly: true }), { ok: false, why: 'not_a_file' });
  assert.throws(() => readFileUpTo('/nonexistent/x', 10), /ENOENT/);
});

test('readYamlFile refuses an oversized config by size (E_CONFIG_INVALID) and a device (E_CONFIG_MISSING), and still reads a normal one', () => inDir((dir) => {
  const p = join(dir, 'run.yaml');
  writeFileSync(p, 'rounds: 3\n');
  assert.deepEqual(readYamlFile(p, 'run config'), { rounds: 3 });
  truncateSync(p, 3 * 1024 ** 3);
  assert.throws(() => readYamlFile(p, 'run config'), (e: Error & { code?: string }) =>
    e.code === 'E_CONFIG_INVALID' && e.message.includes(`is larger than ${MAX_CONFIG_BYTES} bytes`));
  // configs are regular files: /dev/zero is refused before a byte is read
  assert.throws(() => readYamlFile('/dev/zero', 'run config'), (e: Error & { code?: string }) =>
    e.code === 'E_CONFIG_MISSING' && e.message.includes('not a regular file'));
  assert.throws(() => readYamlFile(join(dir, 'missing.yaml'), 'run config'), (e: Error & { code?: string }) => e.code === 'E_CONFIG_MISSING');
}));
