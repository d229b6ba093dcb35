// Runs every test/**/*.test.ts with Node's test runner (Node 20's --test has no globs).
// Usage: node scripts/test.mjs [substring ...]  — only files whose path contains a substring.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
if (filters.includes('--help') || filters.includes('-h')) {
  console.log('Usage: node scripts/test.mjs [SUBSTRING ...]\n\nRuns test/**/*.test.ts (all, or those whose path contains one of the substrings) with\nNode\'s test runner, two files at a time; a test that hangs fails after 3 minutes. npm test\ntype-checks first, then runs this.');
  process.exit(0);
}
const files = walk('test').filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test file under test/ has ${filters.map((f) => JSON.stringify(f)).join(' or ')} in its path`);
  process.exit(1);
}
// A test that hangs fails after 3 minutes (tests that need longer say so with their own timeout)
// instead of holding the whole run until CI gives up.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
