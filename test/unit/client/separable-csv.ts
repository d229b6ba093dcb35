// Test helper: a small labelled CSV dataset with three well-separated classes, for site-agent tests.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCsvDataset } from '../../../shared/data/csv-dataset.ts';
import type { Dataset } from '../../../shared/data/types.ts';
import { SeededRng } from '../../../shared/util/prng.ts';

/** Three well-separated classes in 16 dimensions, as CSV text (label first). */
export function separableCsv(n: number, seed: number): string {
  const rng = new SeededRng(seed);
  const lines = ['label,features...'];
  for (let i = 0; i < n; i++) {
    const y = i % 3;
    const x = Array.from({ length: 16 }, (_, j) => (j % 3 === y ? 0.8 : 0.1) + 0.05 * rng.normal());
    lines.push([y, ...x.map((v) => v.toFixed(4))].join(','));
  }
  return lines.join('\n') + '\n';
}

/** Writes `separableCsv(n, seed)` to `dir/name` and loads it back through the real CSV loader (1×4×4, 3 classes). */
export function separableDataset(dir: string, name: string, n: number, seed: number): Dataset {
  const path = join(dir, name);
  writeFileSync(path, separableCsv(n, seed));
  return loadCsvDataset(path, { shape: [1, 4, 4], classes: 3 });
}
