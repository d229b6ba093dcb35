// TLS certificate, key and CA paths: a FIFO or an oversized file fails at once with E_TLS_CONFIG, naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureServer } from '../../../shared/channel/secure-server.ts';
import { MAX_TLS_FILE_BYTES } from '../../../shared/util/bounded-read.ts';
import { allowlist, clientFor, serverIdentity, siteA, startServer } from './helpers.ts';

/** A scratch folder with a FIFO (no writer) and a watchdog that opens it after 2 s, so a blocking reader fails instead of hanging. */
async function withFiles(fn: (dir: string, fifo: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-tlsfiles-'));
  const fifo = join(dir, 'fifo.pem');
  execFileSync('mkfifo', [fifo]);
  const watchdog = spawn('sh', ['-c', `sleep 2; : > '${fifo}'`], { stdio: 'ignore' });
  try { await fn(dir, fifo); } finally {
    watchdog.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('listen refuses a certificate or key that is a FIFO or over 1 MiB (E_TLS_CONFIG), at once', () => withFiles(async (dir, fifo) => {
  const pem = join(dir, 'small.pem');
  writeFileSync(pem, 'not used: the other file fails first');
  const big = join(dir, 'big.pem');
  writeFileSync(big, '');
  truncateSync(big, MAX_TLS_FILE_BYTES + 1);
  const cases = [
    { certFile: fifo, keyFile: pem, says: `${fifo} is not a regular file` },
    { certFile: pem, keyFile: fifo, says: `${fifo} is not a regular file` },
    { certFile: pem, keyFile: big, says: `${big} is ${MAX_TLS_FILE_BYTES + 1} bytes, more than the ${MAX_TLS_FILE_BYTES} allowed` },
  ];
  for (const { certFile, keyFile, says } of cases) {
    const server = new SecureServer({ identity: serverIdentity, allowlist, port: 0, tls: { certFile, keyFile } });
    const t0 = performance.now();
    await assert.rejects(server.listen(), (e: Error & { code?: string }) =>
      e.code === 'E_TLS_CONFIG' && e.message.startsWith('cannot read TLS certificate or key: ') && e.message.includes(says), says);
    assert.ok(performance.now() - t0 < 1000);
    await server.close();
  }
}));

test('a site whose CA file is a FIFO or over 1 MiB stops with E_TLS_CONFIG before connecting', () => withFiles(async (dir, fifo) => {
  const server = await startServer();
  try {
    const big = join(dir, 'ca.pem');
    writeFileSync(big, '');
    truncateSync(big, MAX_TLS_FILE_BYTES + 1);
    for (const caFile of [fifo, big]) {
      const t0 = performance.now();
      await assert.rejects(clientFor(server, siteA, { tls: { caFile } }).start(), (e: Error & { code?: string }) =>
        e.code === 'E_TLS_CONFIG' && e.message.startsWith(`cannot read CA file: ${caFile} is `));
      assert.ok(performance.now() - t0 < 1000);
    }
  } finally {
    await server.close();
  }
}));
