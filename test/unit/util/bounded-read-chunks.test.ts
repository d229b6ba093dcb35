// A file larger than fstat says (procfs sizes as 0) or a pipe is read in few, large chunks, and its bytes come back whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileUpTo } from '../../../shared/util/bounded-read.ts';

/** Runs `fn` counting readSync calls (the ESM named export is re-synced so the reader sees the wrapper). */
function countingReads<T>(fn: () => T): { result: T; reads: number } {
  const original = fs.readSync;
  let reads = 0;
  fs.readSync = ((...args: Parameters<typeof original>) => { reads++; return original(...args); }) as typeof original;
  syncBuiltinESMExports();
  try {
    return { result: fn(), reads };
  } finally {
    fs.readSync = original;
    syncBuiltinESMExports();
  }
}

test('a procfs file (fstat size 0, ~100+ KiB of content) is read in a few reads, not one per byte', () => {
  assert.equal(fs.statSync('/proc/self/smaps').size, 0);
  const { result, reads } = countingReads(() => readFileUpTo('/proc/self/smaps', 4 << 20, { regularOnly: true }));
  assert.ok(result.ok, 'read whole');
  const text = result.bytes.toString('utf8');
  assert.ok(result.bytes.length > 1 << 16, `more than the first chunk: ${result.bytes.length} bytes`);
  assert.match(text.split('\n')[0]!, /^[0-9a-f]+-[0-9a-f]+ /);
  // before: one byte per read (size 0 + 1), ~100,000+ reads and buffers; procfs returns up to a page per read
  assert.ok(reads < result.bytes.length / 1000, `${reads} reads for ${result.bytes.length} bytes`);
  // and the limit still holds past the first chunk, for a file fstat sized as 0
  const small = countingReads(() => readFileUpTo('/proc/self/smaps', 70_000, { regularOnly: true }));
  assert.deepEqual(small.result, { ok: false, why: 'too_large', size: 70_001 });
  assert.ok(small.reads < 100, `${small.reads} reads`);
});

test('a pipe is read across many chunks to the same bytes, and refused one byte past the limit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-chunks-'));
  try {
    const data = randomBytes(300_000);
    const file = join(dir, 'data.bin');
    const fifo = join(dir, 'fifo');
    writeFileSync(file, data);
    execFileSync('mkfifo', [fifo]);
    for (const [limit, whole] of [[data.length, true], [data.length - 1, false]] as const) {
      const writer = spawn('cp', [file, fifo], { stdio: 'ignore' });
      const exited = new Promise((r) => writer.once('exit', r));
      // blocking open: waits for cp to open the FIFO for writing
      const got = readFileUpTo(fifo, limit);
      if (whole) assert.ok(got.ok && got.bytes.equals(data), 'same bytes');
      else assert.deepEqual(got, { ok: false, why: 'too_large', size: undefined });
      if (!whole) writer.kill();
      await exited;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
