// CSV private data is read strictly: only decimal numbers, a header only when it is one, real line numbers, a size limit before reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CSV_LIMITS, loadCsvDataset, parseDecimalField } from '../../../shared/data/csv-dataset.ts';

function withCsv(text: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-csv-'));
  try {
    const p = join(dir, 'd.csv');
    writeFileSync(p, text);
    fn(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const opts = { shape: [3], classes: 3 };

test('fields must be decimal numbers: empty, blank, hex, binary, octal and Infinity are refused, not read as 0 or 16', () => {
  for (const bad of ['', ' ', '0x10', '0b1', '0o7', 'Infinity', '1e999', '1_000', '--1', '1.2.3', 'NaN']) {
    assert.ok(Number.isNaN(parseDecimalField(bad)) || !Number.isFinite(parseDecimalField(bad)), JSON.stringify(bad));
    withCsv(`1,0.5,${bad},0.5\n`, (p) => assert.throws(() => loadCsvDataset(p, opts), (e: Error & { code?: string }) =>
      e.code === 'E_DATA_CORRUPT' && /d\.csv:1: feature 2 ".*" is not a finite decimal number/.test(e.message), `field ${JSON.stringify(bad)}`));
  }
  for (const [good, v] of [['1', 1], ['-0.5', -0.5], ['+.25', 0.25], ['3.', 3], [' 2e-3 ', 0.002], ['1E2', 100]] as const) assert.equal(parseDecimalField(good), v, good);
  withCsv('2, 0.1 ,-1e-1,+3\n', (p) => assert.deepEqual([...loadCsvDataset(p, opts).features].map((x) => Math.round(x * 10) / 10), [0.1, -0.1, 3]));
});

test('a first line is a header only when none of its fields is a number; a corrupt first sample is an error', () => {
  withCsv('label,a,b,c\n1,1,2,3\n', (p) => assert.equal(loadCsvDataset(p, opts).length, 1));
  withCsv('abc,1,2,3\n0,1,2,3\n', (p) => assert.throws(() => loadCsvDataset(p, opts), /d\.csv:1: label "abc" is not an integer in 0\.\.2/));
  withCsv('\uFEFFy,x1,x2,x3\r\n0,1,2,3\r\n', (p) => assert.equal(loadCsvDataset(p, opts).length, 1));
  // explicit: `header: true` skips any first line, `header: false` none
  withCsv('9,9,9,9\n0,1,2,3\n', (p) => assert.equal(loadCsvDataset(p, { ...opts, header: true }).length, 1));
  withCsv('label,a,b,c\n0,1,2,3\n', (p) => assert.throws(() => loadCsvDataset(p, { ...opts, header: false }), /d\.csv:1: label "label"/));
});

test('errors name the real line number, counting the header and blank lines', () => {
  withCsv('label,a,b,c\n0,1,2,3\n\n1,1,2\n', (p) => assert.throws(() => loadCsvDataset(p, opts), /d\.csv:4: 3 fields; expected 1 label \+ 3 features/));
  withCsv('label,a,b,c\n0,1,2,3\n5,1,2,3\n', (p) => assert.throws(() => loadCsvDataset(p, opts), /d\.csv:3: label "5"/));
});

test('a file over CSV_LIMITS.maxBytes is refused from its size, before it is read; a device is refused outright', () => {
  withCsv('', (p) => {
    truncateSync(p, CSV_LIMITS.maxBytes + 1); // sparse: no disk, and reading it would take ~0.5 GB of memory
    const t0 = Date.now();
    assert.throws(() => loadCsvDataset(p, opts), (e: Error & { code?: string }) =>
      e.code === 'E_DATA_CORRUPT' && e.message.includes(`is ${CSV_LIMITS.maxBytes + 1} bytes; a CSV data file may hold at most ${CSV_LIMITS.maxBytes} bytes`));
    assert.ok(Date.now() - t0 < 500, 'refused without reading');
  });
  assert.throws(() => loadCsvDataset('/dev/zero', opts), (e: Error & { code?: string }) => e.code === 'E_DATA_UNREADABLE' && /not a regular file/.test(e.message));
  assert.throws(() => loadCsvDataset('/nonexistent/d.csv', opts), (e: Error & { code?: string }) => e.code === 'E_DATA_MISSING' && /ENOENT/.test(e.message));
});
