// The site's own ledger survives crashes and edits: a torn last line, a damaged or moved entry, a failed write all give stable codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { FedistillError } from '../../../shared/util/errors.ts';

const code = (c: string) => (e: unknown) => e instanceof FedistillError && e.code === c;

function withLedger(n: number, fn: (path: string, text: string, lines: string[]) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-site-ledger-'));
  try {
    const path = join(dir, 'site.ledger.jsonl');
    const l = new SiteLedger(path);
    for (let i = 0; i < n; i++) l.record({ runId: 'r1', round: i, requestId: `q${i}`, replyKind: 'soft', rows: 10, event: { type: 'gaussian', noise_multiplier: 2, count: 10 } });
    const text = readFileSync(path, 'utf8');
    fn(path, text, text.trimEnd().split('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a ledger reloads to the same entries and ε; a repeated request id is recorded once', () => {
  withLedger(3, (path) => {
    const a = new SiteLedger(path);
    assert.equal(a.all().length, 3);
    assert.equal(a.record({ runId: 'r1', round: 0, requestId: 'q0', replyKind: 'soft', rows: 10, event: { type: 'gaussian', noise_multiplier: 2 } }), false);
    assert.equal(a.record({ runId: 'r1', round: 3, requestId: 'q3', replyKind: 'soft', rows: 10, event: { type: 'gaussian', noise_multiplier: 2 } }), true);
    const b = new SiteLedger(path);
    assert.deepEqual(b.all(), a.all());
    assert.equal(b.epsilon(1e-5), a.epsilon(1e-5));
  });
});

test('a torn last line (crash mid-append) is E_LEDGER_TORN, whether or not its JSON is complete', () => {
  withLedger(3, (path, text) => {
    writeFileSync(path, text.slice(0, text.length - 25));
    assert.throws(() => new SiteLedger(path), code('E_LEDGER_TORN'));
    writeFileSync(path, text.slice(0, text.length - 1)); // only the newline is missing
    assert.throws(() => new SiteLedger(path), code('E_LEDGER_TORN'));
    writeFileSync(path, text);
    assert.equal(new SiteLedger(path).all().length, 3);
  });
});

test('edited, removed, duplicated, moved or malformed entries are E_LEDGER_CORRUPT, never a crash or a smaller ε', () => {
  withLedger(3, (path, _text, lines) => {
    const cases: Record<string, string[]> = {
      'null line': [...lines, 'null'],
      'array line': [...lines, '[]'],
      'binary garbage': [...lines, '\u0000\u0001\uFFFD'],
      'duplicated entry': [lines[0]!, lines[0]!, lines[1]!],
      'moved entry': [lines[1]!, lines[0]!, lines[2]!],
      'removed entry': [lines[0]!, lines[2]!],
      'edited σ': [lines[0]!, lines[1]!.replace('"noise_multiplier":2', '"noise_multiplier":200'), lines[2]!],
      'missing fields': [JSON.stringify({ seq: 0, prev: '', event: { type: 'gaussian', noise_multiplier: 1 } })],
      'negative σ': [lines[0]!.replace('"noise_multiplier":2', '"noise_multiplier":-2')],
      'unknown mechanism': [lines[0]!.replace('"type":"gaussian"', '"type":"gaussiann"')],
      'schema version 2': [lines[0]!.replace('"type":"gaussian"', '"type":"gaussian","schema_version":2')],
      'unknown noise origin': [lines[0]!.replace('"prev":', '"noise":"nearby","prev":')],
    };
    for (const [name, ls] of Object.entries(cases)) {
      writeFileSync(path, ls.join('\n') + '\n');
      assert.throws(() => new SiteLedger(path), code('E_LEDGER_CORRUPT'), name);
    }
  });
});

test('a failed write is E_LEDGER_WRITE and records nothing; the next write starts cleanly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-site-ledger-'));
  try {
    const path = join(dir, 'missing', 'site.ledger.jsonl');
    const l = new SiteLedger(path);
    const entry = { runId: 'r1', round: 0, requestId: 'q0', replyKind: 'soft', rows: 1, event: { type: 'gaussian', noise_multiplier: 2 } } as const;
    assert.throws(() => l.record(entry), code('E_LEDGER_WRITE'));
    assert.equal(l.all().length, 0);
    mkdirSync(join(dir, 'missing'));
    assert.equal(l.record(entry), true);
    assert.equal(new SiteLedger(path).all()[0]!.seq, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
