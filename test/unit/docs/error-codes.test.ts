// One error catalogue: every stable code the product can raise is listed in docs/errors.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('every error code in product code is in docs/errors.md', () => {
  const catalogue = readFileSync('docs/errors.md', 'utf8');
  const codes = new Set<string>();
  for (const dir of ['protocols', 'shared', 'server', 'client', 'simulations', 'cli']) {
    for (const file of sources(dir)) for (const m of readFileSync(file, 'utf8').matchAll(/'(E_[A-Z0-9_]+)'/g)) codes.add(m[1]!);
  }
  assert.ok(codes.size > 50, `found only ${codes.size} codes`);
  const missing = [...codes].filter((c) => !catalogue.includes(`\`${c}\``));
  assert.deepEqual(missing, [], `add these to docs/errors.md: ${missing.join(', ')}`);
});
