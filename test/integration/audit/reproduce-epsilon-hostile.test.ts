// scripts/reproduce-epsilon.mjs on hostile exports: a value JSON cannot write does not pass as the signed null, malformed input
// fails with a stable code and no stack trace, and a record that drops the transport rounding is a finding (as in verify).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAuditSource } from '../../../shared/audit/audit-export.ts';
import { verifyAuditLog } from '../../../shared/audit/audit-verify.ts';
import { buildExtendedRun } from '../../unit/audit/extended-run-fixture.ts';

const SCRIPT = 'scripts/reproduce-epsilon.mjs';

function reproduce(file: string, ...options: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, file, ...options], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a signed null replaced by 1e999 (Infinity, which JSON.stringify writes as null) breaks the chain instead of passing', () => {
  const f = buildExtendedRun();
  try {
    const good = f.exportTo('good.jsonl');
    assert.equal(reproduce(good, '--public-key', f.publicKey).code, 0);
    const lines = readFileSync(good, 'utf8').split('\n');
    assert.match(lines[1]!, /"round":null/);
    lines[1] = lines[1]!.replace('"round":null', '"round":1e999');
    const bad = join(f.dir, 'inf.jsonl');
    writeFileSync(bad, lines.join('\n'));
    const r = reproduce(bad, '--public-key', f.publicKey);
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout);
    assert.equal(report.ok, false);
    assert.match(report.chain.problem, /entry 0 \(seq 0\): not canonical JSON: Infinity/);
  } finally { f.close(); }
});

test('hostile files fail with exit 2 and a stable E_AUDIT_ code, never a stack trace or an internal message', () => {
  const f = buildExtendedRun();
  try {
    const good = f.exportTo('good.jsonl');
    const [header, ...entries] = readFileSync(good, 'utf8').trim().split('\n');
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const cases: Record<string, { text?: string; size?: number; code: string }> = {
      'null header': { text: 'null\n', code: 'E_AUDIT_BAD_FORMAT' },
      'deeply nested header': { text: `${deep}\n`, code: 'E_AUDIT_BAD_FORMAT' },
      'header entries as a string': { text: `${header!.replace(/"entries":(\d+)/, '"entries":"$1"')}\n${entries.join('\n')}\n`, code: 'E_AUDIT_BAD_HEADER' },
      'header public_key a number': { text: `${header!.replace(/"public_key":"[^"]*"/, '"public_key":5')}\n${entries.join('\n')}\n`, code: 'E_AUDIT_BAD_HEADER' },
      'null entry': { text: `${header}\nnull\n${entries.slice(1).join('\n')}\n`, code: 'E_AUDIT_BAD_ENTRY' },
      'deeply nested entry': { text: `${header}\n${deep}\n${entries.slice(1).join('\n')}\n`, code: 'E_AUDIT_BAD_ENTRY' },
      'a file too large to read': { size: 500 * 1024 * 1024 + 1, code: 'E_AUDIT_BAD_FORMAT' },
    };
    for (const [name, c] of Object.entries(cases)) {
      const p = join(f.dir, `${name.replaceAll(' ', '-')}.jsonl`);
      writeFileSync(p, c.text ?? '');
      if (c.size !== undefined) truncateSync(p, c.size); // sparse
      const r = reproduce(p);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^reproduce-epsilon: ${c.code}: `), name);
      assert.doesNotMatch(r.stderr, /Cannot read properties|Maximum call stack|TypeError|\n\s+at /, name);
    }
    // Deep data inside a well-formed entry is a chain problem (depth > 64 has no canonical form), exit 1.
    const lines = readFileSync(good, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"data":{', `"data":{"deep":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)},`);
    const p = join(f.dir, 'deep-data.jsonl');
    writeFileSync(p, lines.join('\n'));
    const r = reproduce(p);
    assert.equal(r.code, 1, r.stderr);
    assert.match(JSON.parse(r.stdout).chain.problem, /nests deeper than 64/);
    // A signature that is not a string is a bad signature, not a crash.
    lines[1] = readFileSync(good, 'utf8').split('\n')[1]!.replace(/"signature":"[^"]*"/, '"signature":7');
    writeFileSync(p, lines.join('\n'));
    const s = reproduce(p);
    assert.equal(s.code, 1, s.stderr);
    assert.match(JSON.parse(s.stdout).chain.problem, /signature does not verify/);
  } finally { f.close(); }
});

test('a record without transport_ulp, in a run that declares a grid, is a finding for the script as for verify', () => {
  const f = buildExtendedRun({ withoutUlp: true });
  try {
    const p = f.exportTo('no-ulp.jsonl');
    const { log } = loadAuditSource(p);
    const v = verifyAuditLog(log, { pinnedPublicKey: f.publicKey });
    assert.equal(v.problem?.code, 'E_AUDIT_CHARGE_MISMATCH');
    assert.match(v.problem!.message, /transport_ulp undefined is not the float32 step/);
    const r = reproduce(p, '--public-key', f.publicKey);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.ok, false);
    assert.ok(report.findings.some((x: string) => /transport_ulp undefined ≠ float32 step/.test(x)), report.findings.join('; '));
  } finally { f.close(); }
});

test('a FIFO with no writer or a device (/dev/zero) is refused at once, exit 2 E_AUDIT_BAD_FORMAT, instead of hanging or reading without end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-repro-fifo-'));
  try {
    const fifo = join(dir, 'export.jsonl');
    execFileSync('mkfifo', [fifo]);
    // spawnSync's timeout (20 s) stops a script that blocks on the FIFO: its status is then null
    for (const path of [fifo, '/dev/zero']) {
      const r = reproduce(path);
      assert.equal(r.code, 2, `${path}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), `reproduce-epsilon: E_AUDIT_BAD_FORMAT: ${path} is not a regular file (a pipe, socket or device): pass an audit export`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
