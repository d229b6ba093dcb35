// A site's own labelled data from a CSV file: one sample per line, `label,x1,x2,...,xD`.
import { createHash } from 'node:crypto';
import { readFileUpTo } from '../util/bounded-read.ts';
import { FedistillError, check } from '../util/errors.ts';
import type { Dataset } from './types.ts';

/**
 * Hard limits so a malformed file fails fast instead of exhausting memory. The file is decoded as
 * one string, so its size stays below V8's longest string (about 512 Mi characters).
 */
export const CSV_LIMITS = { maxBytes: 500 * 1024 ** 2, maxFeatures: 1 << 20 } as const;

/**
 * A plain decimal number: optional sign, digits with an optional fraction, optional exponent.
 * `Number()` alone would read '' and ' ' as 0, '0x10' as 16 and '0b1' as 1: a corrupt field
 * would become a silently wrong value instead of an error.
 */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The field's value when it is a finite decimal number (spaces around it allowed), else NaN. */
export function parseDecimalField(field: string): number {
  const t = field.trim();
  return DECIMAL.test(t) ? Number(t) : NaN;
}

export interface CsvDatasetOptions {
  /** The per-sample shape; its product is the number of feature fields D. */
  shape: readonly number[];
  classes: number;
  /**
   * Whether the first line is a header: `true` always skips it, `false` never does; absent, it is a
   * header only if none of its fields is a number (`label,x1,x2`), so a corrupt first sample
   * (`abc,0.1,0.2`) is an error, not a header silently dropped.
   */
  header?: boolean;
}

/**
 * Reads `label,x1,...,xD` lines. Labels are integers in 0..classes-1; features are finite decimal
 * numbers, used as given (scale them to about [0, 1] yourself). Blank lines are skipped; errors
 * name the file and its real line number. The file must be a regular file of at most CSV_LIMITS.maxBytes.
 */
export function loadCsvDataset(path: string, o: CsvDatasetOptions): Dataset {
  const per = o.shape.reduce((a, b) => a * b, 1);
  check(Number.isSafeInteger(per) && per > 0 && per <= CSV_LIMITS.maxFeatures, 'data.shape', `must be positive integers with a product ≤ ${CSV_LIMITS.maxFeatures}`);
  check(Number.isSafeInteger(o.classes) && o.classes >= 2 && o.classes <= 256, 'data.classes', 'must be an integer in 2..256');
  const text = readCsvText(path).replace(/^\uFEFF/, '');
  const rows: { line: number; text: string }[] = [];
  text.split(/\r?\n/).forEach((t, i) => { if (t.trim() !== '') rows.push({ line: i + 1, text: t }); });
  const first = rows[0];
  if (first && (o.header ?? first.text.split(',').every((f) => Number.isNaN(parseDecimalField(f))))) rows.shift();
  if (rows.length === 0) throw new FedistillError('E_DATA_CORRUPT', `${path} holds no samples; expected lines "label,x1,...,x${per}"`);
  const features = new Float32Array(rows.length * per);
  const labels = new Uint8Array(rows.length);
  rows.forEach(({ line, text: row }, i) => {
    const f = row.split(',');
    if (f.length !== per + 1) throw new FedistillError('E_DATA_CORRUPT', `${path}:${line}: ${f.length} fields; expected 1 label + ${per} features`);
    const y = parseDecimalField(f[0]!);
    if (!Number.isInteger(y) || y < 0 || y >= o.classes) throw new FedistillError('E_DATA_CORRUPT', `${path}:${line}: label "${shortField(f[0]!)}" is not an integer in 0..${o.classes - 1}`);
    labels[i] = y;
    for (let j = 0; j < per; j++) {
      const v = parseDecimalField(f[j + 1]!);
      if (!Number.isFinite(v)) throw new FedistillError('E_DATA_CORRUPT', `${path}:${line}: feature ${j + 1} "${shortField(f[j + 1]!)}" is not a finite decimal number`);
      features[i * per + j] = v;
    }
  });
  const hash = createHash('sha256').update(new Uint8Array(features.buffer)).update(labels).digest('hex');
  return { spec: `csv:${path}`, name: 'csv', split: path, length: labels.length, shape: [...o.shape], numClasses: o.classes, features, labels, hash };
}

/** The file's text; its size is checked (fstat) before anything is read. */
function readCsvText(path: string): string {
  let got: ReturnType<typeof readFileUpTo>;
  try { got = readFileUpTo(path, CSV_LIMITS.maxBytes, { regularOnly: true }); } catch (e) {
    throw new FedistillError('E_DATA_MISSING', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (got.ok) return got.bytes.toString('utf8');
  if (got.why === 'not_a_file') throw new FedistillError('E_DATA_UNREADABLE', `${path} is not a regular file (a device, pipe or socket); give a CSV file`);
  const size = got.size !== undefined ? `${got.size} bytes` : `over ${CSV_LIMITS.maxBytes} bytes`;
  throw new FedistillError('E_DATA_CORRUPT', `${path} is ${size}; a CSV data file may hold at most ${CSV_LIMITS.maxBytes} bytes: use fewer samples (or fewer features) per file`);
}

/** A field as shown in an error: cut short, control characters escaped by JSON. */
function shortField(f: string): string {
  return JSON.stringify(f.length > 40 ? `${f.slice(0, 40)}…` : f).slice(1, -1);
}
