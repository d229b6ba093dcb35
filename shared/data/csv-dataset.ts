// A site's own labelled data from a CSV file: one sample per line, `label,x1,x2,...,xD`.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { FedistillError, check } from '../util/errors.ts';
import type { Dataset } from './types.ts';

/** Hard limits so a malformed file fails fast instead of exhausting memory. */
export const CSV_LIMITS = { maxBytes: 2 * 1024 ** 3, maxFeatures: 1 << 20 } as const;

/**
 * Reads `label,x1,...,xD` lines (no header, or a header whose first field is not a number —
 * it is skipped). Labels are integers in 0..classes-1; features are finite numbers, used as
 * given (scale them to about [0, 1] yourself). `shape` is the per-sample shape (its product must be D).
 */
export function loadCsvDataset(path: string, o: { shape: readonly number[]; classes: number }): Dataset {
  const per = o.shape.reduce((a, b) => a * b, 1);
  check(Number.isSafeInteger(per) && per > 0 && per <= CSV_LIMITS.maxFeatures, 'data.shape', `must be positive integers with a product ≤ ${CSV_LIMITS.maxFeatures}`);
  check(Number.isSafeInteger(o.classes) && o.classes >= 2 && o.classes <= 256, 'data.classes', 'must be an integer in 2..256');
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new FedistillError('E_DATA_MISSING', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length > 0 && !Number.isFinite(Number(lines[0]!.split(',')[0]))) lines.shift();
  if (lines.length === 0) throw new FedistillError('E_DATA_CORRUPT', `${path} holds no samples; expected lines "label,x1,...,x${per}"`);
  const features = new Float32Array(lines.length * per);
  const labels = new Uint8Array(lines.length);
  lines.forEach((line, i) => {
    const f = line.split(',');
    if (f.length !== per + 1) throw new FedistillError('E_DATA_CORRUPT', `${path}:${i + 1}: ${f.length} fields; expected 1 label + ${per} features`);
    const y = Number(f[0]);
    if (!Number.isInteger(y) || y < 0 || y >= o.classes) throw new FedistillError('E_DATA_CORRUPT', `${path}:${i + 1}: label "${f[0]}" is not an integer in 0..${o.classes - 1}`);
    labels[i] = y;
    for (let j = 0; j < per; j++) {
      const v = Number(f[j + 1]);
      if (!Number.isFinite(v)) throw new FedistillError('E_DATA_CORRUPT', `${path}:${i + 1}: feature ${j + 1} "${f[j + 1]}" is not a finite number`);
      features[i * per + j] = v;
    }
  });
  const hash = createHash('sha256').update(new Uint8Array(features.buffer)).update(labels).digest('hex');
  return { spec: `csv:${path}`, name: 'csv', split: path, length: labels.length, shape: [...o.shape], numClasses: o.classes, features, labels, hash };
}
