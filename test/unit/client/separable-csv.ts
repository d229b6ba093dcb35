// Test helper: a small labelled CSV dataset with three well-separated classes, for site-agent tests.
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
