// Config, allowlist, TLS, audit-log and site-ledger files are regular files: a FIFO with no writer fails at once, a device or an oversized file is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_ALLOWLIST_BYTES, loadAllowlist } from '../../../shared/crypto/allowlist.ts';
import { encodePublicKey, generateIdentity } from '../../../shared/crypto/identity.ts';
import { MAX_TLS_FILE_BYTES, readRegularFileUpTo } from '../../../shared/util/bounded-read.ts';
import { readYamlFile } from '../../../shared/util/yaml-file.ts';
import { loadAuditSource, MAX_AUDIT_EXPORT_BYTES } from '../../../shared/audit/audit-export.ts';
import { MAX_LEDGER_BYTES, SiteLedger } from '../../../client/site-ledger.ts';
import { runCli } from '../../../cli/main.ts';

/**
 * A FIFO with no writer, and a watchdog that opens it for writing after 2 s: a reader that blocks
 * on it is released (and then fails its assertions) instead of hanging the test run.
 */
function withFifo(fn: (fifo: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-fifo-'));
  const fifo = join(dir, 'run.yaml');
  execFileSync('mkfifo', [fifo]);
  const watchdog: ChildProcess = spawn('sh', ['-c', `sleep 2; : > '${fifo}'`], { stdio: 'ignore' });
  try {
    fn(fifo);
  } finally {
    watchdog.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `fn`, returning how long it took (ms): a blocking open would take the watchdog's 2 s. */
function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

test('a config path that is a FIFO with no writer fails at once with E_CONFIG_MISSING, not a hang', () => withFifo((fifo) => {
  const ms = timed(() => assert.throws(() => readYamlFile(fifo, 'run config'), (e: Error & { code?: string }) =>
    e.code === 'E_CONFIG_MISSING' && e.message === `cannot read run config ${fifo}: not a regular file (a pipe, socket or device); write it to a file and pass that file's path`));
  assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
  // the scenario readers pass their own codes
  assert.throws(() => readYamlFile(fifo, 'scenario', { missingCode: 'E_SCENARIO_MISSING' }), { code: 'E_SCENARIO_MISSING' });
}));

test('an allowlist that is a FIFO, a device or over the size limit is refused as E_ALLOWLIST_INVALID', () => withFifo((fifo) => {
  const ms = timed(() => assert.throws(() => loadAllowlist(fifo), { code: 'E_ALLOWLIST_INVALID', message: /is not a regular file/ }));
  assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
  assert.throws(() => loadAllowlist('/dev/zero'), { code: 'E_ALLOWLIST_INVALID', message: /is not a regular file/ });
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-allow-'));
  try {
    const file = join(dir, 'allow.yaml');
    const line = `"${encodePublicKey(generateIdentity().publicKey)}": hospital-a\n`;
    writeFileSync(file, line);
    assert.equal(loadAllowlist(file).size, 1);
    // sparse, 1 GiB: refused from its size, before a byte is read
    truncateSync(file, 1 << 30);
    assert.throws(() => loadAllowlist(file), { code: 'E_ALLOWLIST_INVALID', message: new RegExp(`is larger than ${MAX_ALLOWLIST_BYTES} bytes`) });
    writeFileSync(file, 'sites: [');
    assert.throws(() => loadAllowlist(file), { code: 'E_ALLOWLIST_INVALID', message: /is not valid YAML/ });
    assert.throws(() => loadAllowlist(join(dir, 'missing.yaml')), { code: 'E_ALLOWLIST_INVALID', message: /ENOENT/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}));

test('readRegularFileUpTo says why a TLS-sized read failed: FIFO, device, size', () => withFifo((fifo) => {
  assert.throws(() => readRegularFileUpTo(fifo, MAX_TLS_FILE_BYTES), { message: `${fifo} is not a regular file (a pipe, socket or device)` });
  assert.throws(() => readRegularFileUpTo('/dev/zero', MAX_TLS_FILE_BYTES), { message: /not a regular file/ });
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-tlsfile-'));
  try {
    const file = join(dir, 'cert.pem');
    writeFileSync(file, 'PEM');
    assert.equal(readRegularFileUpTo(file, MAX_TLS_FILE_BYTES).toString(), 'PEM');
    truncateSync(file, MAX_TLS_FILE_BYTES + 1);
    assert.throws(() => readRegularFileUpTo(file, MAX_TLS_FILE_BYTES), { message: `${file} is ${MAX_TLS_FILE_BYTES + 1} bytes, more than the ${MAX_TLS_FILE_BYTES} allowed` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}));

test('audit verify, report and compare refuse a FIFO, a device or an oversized file at once (E_AUDIT_BAD_FORMAT, E_LEDGER_UNREADABLE)', async () => {
  let cli: Promise<number> | undefined;
  let out = '';
  withFifo((fifo) => {
    const ms = timed(() => {
      assert.throws(() => loadAuditSource(fifo), { code: 'E_AUDIT_BAD_FORMAT', message: `${fifo} is not a regular file (a pipe, socket or device): pass an audit export or an aggregator database` });
      assert.throws(() => new SiteLedger(fifo), { code: 'E_LEDGER_UNREADABLE', message: `${fifo} is not a regular file (a pipe, socket or device); a ledger is a JSON-lines file` });
    });
    assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
    // the command a site operator runs: the ledger argument is the FIFO
    cli = runCli(['audit', 'compare', fifo, '/dev/null', '--json'], { out: (t) => { out += t; }, err: () => {} });
  });
  assert.equal(await cli, 1);
  assert.equal(JSON.parse(out).error.code, 'E_LEDGER_UNREADABLE', out);
  // /dev/zero sizes as 0 and never ends: it used to be read until memory ran out
  assert.throws(() => loadAuditSource('/dev/zero'), { code: 'E_AUDIT_BAD_FORMAT', message: /is not a regular file/ });
  assert.throws(() => new SiteLedger('/dev/zero'), { code: 'E_LEDGER_UNREADABLE' });
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-auditfile-'));
  try {
    // sparse files one byte over each limit: refused from their size, before a byte is read
    const big = join(dir, 'big.jsonl');
    writeFileSync(big, '');
    truncateSync(big, MAX_AUDIT_EXPORT_BYTES + 1);
    assert.throws(() => loadAuditSource(big), { code: 'E_AUDIT_BAD_FORMAT', message: new RegExp(`is ${MAX_AUDIT_EXPORT_BYTES + 1} bytes; an export is read whole`) });
    truncateSync(big, MAX_LEDGER_BYTES + 1);
    assert.throws(() => new SiteLedger(big), { code: 'E_LEDGER_UNREADABLE', message: new RegExp(`is ${MAX_LEDGER_BYTES + 1} bytes, more than`) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
