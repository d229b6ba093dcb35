// Every bench/*.ts as users run it: --help prints its usage and exits 0 at once; an unknown flag is one line on stderr and exit 2; neither starts the benchmark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The benches: every TypeScript file in bench/ but the modules they share (the argument parser, the JSON key converter). */
const SHARED = ['bench-args.ts', 'json-keys.ts'];
const BENCHES = readdirSync(new URL('../../../bench/', import.meta.url)).filter((f) => f.endsWith('.ts') && !SHARED.includes(f)).sort();
/** Far above loading a bench's imports on a busy 2-core machine (1–3 s), far below any benchmark (minutes). */
const QUICK_MS = 20_000;

interface Run { code: number | null; stdout: string; stderr: string; ms: number }

/** Runs `node --import tsx bench/FILE args` from the repository root, as the docs do. */
function runBench(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', `bench/${file}`, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
    child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
    // a bench that ignored the flag and started working is stopped, and the test then fails on its exit
    const timer = setTimeout(() => child.kill('SIGKILL'), 2 * QUICK_MS);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: performance.now() - t0 }); });
  });
}

test('bench/ holds the benches this test runs', () => {
  for (const f of ['train.ts', 'gpu-summary.ts', 'render-html.ts', 'inbound-flood.ts', 'simulate-scale.ts']) assert.ok(BENCHES.includes(f), f);
  assert.ok(BENCHES.length >= 18, BENCHES.join(' '));
});

test('every bench answers --help with its usage, and --no-such-flag with one line and exit 2, without running', { concurrency: 4 }, async (t) => {
  await Promise.all(BENCHES.map((file) => t.test(file, async () => {
    const help = await runBench(file, ['--help']);
    assert.equal(help.code, 0, `${file} --help: exit ${help.code}\n${help.stderr}`);
    assert.match(help.stdout.split('\n')[0]!, new RegExp(`^Usage: node (--[a-z-]+ )*--import tsx bench/${file.replace('.', '\\.')}( |$)`), help.stdout);
    assert.match(help.stdout, /\n {2}-h, --help +show this help and exit\n/);
    assert.equal(help.stderr, '', `${file} --help wrote progress: it started working`);
    assert.ok(help.ms < QUICK_MS, `${file} --help took ${Math.round(help.ms)} ms`);

    const bad = await runBench(file, ['--no-such-flag']);
    assert.equal(bad.code, 2, `${file} --no-such-flag: exit ${bad.code}\n${bad.stderr}`);
    assert.equal(bad.stderr, `bench/${file}: unknown option --no-such-flag; see --help\n`);
    assert.equal(bad.stdout, '');
    assert.ok(bad.ms < QUICK_MS, `${file} --no-such-flag took ${Math.round(bad.ms)} ms`);
  })));
});
