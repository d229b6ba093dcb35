// Device parity: every layer, loss and optimizer trained on webgpu and on the CPU with the same seeds, compared case by case (max relative differences, accuracies, CPU fallbacks).
// Usage: node --import tsx bench/device-coverage.ts [--cases a,b] [--timeout S]   (one JSON object on stdout, progress on stderr)
//        node --import tsx bench/device-coverage.ts --device cpu|webgpu [--cases a,b]   (one process, one device: each case's raw results)
import { spawn } from 'node:child_process';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceRequest } from '../shared/ml/index.ts';
import { closest } from '../shared/util/suggest.ts';
import { benchArgs, exitWithUsageError } from './bench-args.ts';
import { camelCaseKeys, snakeCaseKeys } from './json-keys.ts';
import { CASES } from './device-coverage/cases.ts';
import { RELATIVE_DIFFERENCE, TOLERANCES, compareCase, type CaseComparison } from './device-coverage/compare.ts';
import { runCase, type CaseResult } from './device-coverage/run-case.ts';

const { values: args } = benchArgs({
  name: 'device-coverage',
  summary: `Trains every coverage case (each layer, loss and optimizer, a few steps, fixed seeds) on the CPU and on webgpu,
in child processes, and compares them per case: largest relative differences of losses, weights, running statistics
and predictions, equal accuracies, and CPU fallbacks from onnxruntime's profiles; \`pass\` when all are within the bars of
test/integration/ml/webgpu-coverage.test.ts. Progress on stderr, one JSON object on stdout.`,
  options: {
    device: { kind: 'string', choices: ['cpu', 'webgpu', 'cuda', 'auto'], help: 'instead of comparing: train the cases on this device in this process and print\neach case\'s raw results (losses, weights, predictions; what the comparison reads)' },
    cases: { kind: 'string', arg: 'A,B,...', defaultHelp: 'all', help: `cases to run: ${Object.keys(CASES).join(', ')}` },
    jobs: { kind: 'integer', arg: 'N', defaultHelp: 'all runs at once', help: 'child processes at once when comparing (one for the CPU, one per case on webgpu)' },
    timeout: { kind: 'integer', arg: 'S', default: 240, help: 'when comparing: seconds before runs still going are stopped; the comparison still prints,\nfailing those cases' },
  },
  notes: [
    'Environment: FEDISTILL_COVERAGE_PROFILE=1 with --device records onnxruntime profiles of each case\'s sessions and reports',
    'where their nodes ran (`placement`); comparing sets it for the webgpu runs. Without a GPU, SwiftShader stands in:',
    '  VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp node --import tsx bench/device-coverage.ts',
  ],
});

const names = args.cases?.split(',').map((s) => s.trim()) ?? Object.keys(CASES);
for (const n of names) {
  if (!Object.hasOwn(CASES, n)) {
    const hint = closest(n, Object.keys(CASES));
    exitWithUsageError('device-coverage', `unknown case "${n}"${hint ? ` (did you mean ${hint}?)` : ''}; known: ${Object.keys(CASES).join(', ')}`);
  }
}
const log = (s: string): void => void process.stderr.write(`[bench/device-coverage] ${s}\n`);

/**
 * Printed keys are snake_case; these objects' keys are names, kept as they are: in one device's raw
 * results, the cases and the profiles' providers and their op types; in the comparison, the cases.
 */
const RESULT_DATA_KEYS = ['', '*.placement.by_provider', '*.placement.by_provider.*'];
const COMPARISON_DATA_KEYS = ['cases'];

/** One device's results for some cases, from a child process; `error` says why there are none. */
interface ChildRun { results?: Record<string, CaseResult>; error?: string; seconds: number }

/**
 * Runs this bench as a child (`--device D --cases ...`) with the same node flags (tsx when run from
 * source, none from dist/), stopped at `deadline`: one process per device or case, so a crash or
 * hang on the GPU loses only that case, and each process configures its own GPU context.
 */
function child(device: string, cases: string[], env: NodeJS.ProcessEnv, deadline: number): Promise<ChildRun> {
  const t0 = Date.now();
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...process.execArgv, self, '--device', device, '--cases', cases.join(',')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
    p.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
    const timer = setTimeout(() => p.kill('SIGKILL'), Math.max(0, deadline - Date.now()));
    p.on('error', (e) => { clearTimeout(timer); resolve({ error: e.message, seconds: (Date.now() - t0) / 1000 }); });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - t0) / 1000;
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last.startsWith('{')) resolve({ results: camelCaseKeys(JSON.parse(last), RESULT_DATA_KEYS) as Record<string, CaseResult>, seconds });
      else {
        const why = signal === 'SIGKILL' ? `stopped after ${Math.round(seconds)} s (--timeout)` : `exit ${code ?? signal}`;
        const lines = stderr.trim().split('\n');
        const said = lines.filter((l) => l.startsWith('[bench/device-coverage] ')).at(-1)?.slice(24) ?? lines.slice(-3).join(' | ');
        resolve({ error: `${why}${said ? `: ${said.slice(0, 600)}` : ''}`, seconds });
      }
    });
  });
}

/** Runs `tasks` with at most `jobs` running at once, results in the tasks' order. */
async function pool<T>(tasks: (() => Promise<T>)[], jobs: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => { while (next < tasks.length) { const i = next++; out[i] = await tasks[i]!(); } };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  return out;
}

/** Runs every case on the CPU (one process) and on webgpu (one process each, profiled), and compares them. */
async function compare(): Promise<object> {
  const t0 = Date.now();
  const deadline = t0 + args.timeout * 1000;
  const gpuEnv = { ...process.env, FEDISTILL_COVERAGE_PROFILE: '1' };
  const cpuEnv = { ...process.env };
  delete cpuEnv.FEDISTILL_COVERAGE_PROFILE;
  const tasks = [
    () => child('cpu', names, cpuEnv, deadline).then((r) => { log(`cpu: ${r.error ?? `${names.length} case(s)`} (${r.seconds.toFixed(1)} s)`); return r; }),
    ...names.map((n) => () => child('webgpu', [n], gpuEnv, deadline).then((r) => { log(`webgpu ${n}: ${r.error ?? 'done'} (${r.seconds.toFixed(1)} s)`); return r; })),
  ];
  const [cpu, ...gpu] = await pool(tasks, args.jobs ?? tasks.length);
  const cases: Record<string, CaseComparison | { pass: false; error: string }> = {};
  names.forEach((n, i) => {
    const want = cpu!.results?.[n], got = gpu[i]!.results?.[n];
    cases[n] = want && got ? compareCase(want, got, 'webgpu') : { pass: false, error: `${want ? 'webgpu' : 'cpu'} run: ${(want ? gpu[i]! : cpu!).error ?? 'no result'}` };
  });
  const failed = names.filter((n) => !cases[n]!.pass);
  for (const n of names) {
    const c = cases[n]!;
    if ('error' in c) log(`${n.padEnd(18)} FAIL  ${c.error}`);
    else {
      const d = c.maxRelDiff, e = (v: number | null) => (v === null ? '—' : v.toExponential(1));
      log(`${n.padEnd(18)} ${c.pass ? 'pass' : 'FAIL'}  losses ${e(d.losses)}  weights ${e(d.weights)}  buffers ${e(d.buffers)}  predictions ${e(d.predictions)}  accuracies ${c.accuraciesEqual ? 'equal' : 'differ'}  CPU ops ${c.placement?.cpuOps.join(',') || '—'}${c.failures.length ? `\n  ${c.failures.join('\n  ')}` : ''}`);
    }
  }
  return {
    bench: 'device-coverage', device: 'webgpu', against: 'cpu',
    command: ['node', ...process.execArgv, relative(process.cwd(), process.argv[1]!), ...process.argv.slice(2)].join(' '),
    seeds: { model: 3, trainer: 5, data: 11 }, relative_difference: RELATIVE_DIFFERENCE, tolerances: TOLERANCES,
    pass: failed.length === 0, failed, cases, seconds: (Date.now() - t0) / 1000,
  };
}

if (args.device) {
  const profile = process.env.FEDISTILL_COVERAGE_PROFILE === '1';
  const out: Record<string, CaseResult> = {};
  for (const n of names) {
    try {
      out[n] = await runCase(n, args.device as DeviceRequest, profile);
    } catch (e) {
      // One line the comparing parent quotes (a stack's last lines say nothing); the stack above it for a person.
      const err = e as { code?: string; message?: string; stack?: string };
      process.stderr.write(`${err.stack ?? String(e)}\n`);
      log(`${n} on ${args.device}: ${err.code ? `${err.code}: ` : ''}${(err.message ?? String(e)).split('\n')[0]}`);
      process.exit(1);
    }
  }
  process.stdout.write(`${JSON.stringify(snakeCaseKeys(out, RESULT_DATA_KEYS))}\n`);
} else {
  process.stdout.write(`${JSON.stringify(snakeCaseKeys(await compare(), COMPARISON_DATA_KEYS))}\n`);
}
