// The benchmarks' command lines: each bench declares its flags once, and gets --help, defaults and one-line usage errors from node:util parseArgs (strict).
import { parseArgs } from 'node:util';
import { UsageError } from '../shared/util/errors.ts';
import { didYouMean } from '../shared/util/suggest.ts';
import { wantsHelp } from '../cli/parse.ts';

/**
 * What a flag takes: `string` (optionally one of `choices`), `boolean` (no value), `integer`
 * (whole number ≥ `min`, 1 unless set), `number` (finite, ≥ `min` / > `above` when set),
 * `integers` (comma-separated non-negative whole numbers, e.g. seeds "1,2,3").
 */
export type BenchOptionKind = 'string' | 'boolean' | 'integer' | 'number' | 'integers';

export interface BenchOption {
  readonly kind: BenchOptionKind;
  readonly help: string;
  /** Placeholder in help (FILE, N); the kind's name when omitted. */
  readonly arg?: string;
  readonly default?: string | number;
  /** The default in words, for defaults computed at run time ("all cores"); shown instead of `default`. */
  readonly defaultHelp?: string;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly above?: number;
  /** Internal flags (a bench re-running itself as a child) parse but stay out of --help. */
  readonly hidden?: boolean;
}

export interface BenchPositional {
  readonly name: string;
  readonly help: string;
}

export interface BenchCommand<O extends Readonly<Record<string, BenchOption>> = Readonly<Record<string, BenchOption>>> {
  /** File name without extension: `train` is bench/train.ts. */
  readonly name: string;
  /** One or two lines: what the bench measures and what it prints. */
  readonly summary: string;
  /** Node flags the bench wants on its command line (`--expose-gc`). */
  readonly nodeFlags?: string;
  readonly options?: O;
  /** Required positional arguments, in order. */
  readonly positionals?: readonly BenchPositional[];
  /** Lines after the options (environment variables, examples). */
  readonly notes?: readonly string[];
}

type ValueOf<S> = S extends { kind: 'boolean' } ? boolean
  : S extends { kind: 'integer' | 'number' } ? number
  : S extends { kind: 'integers' } ? number[]
  : S extends { choices: readonly (infer C extends string)[] } ? C
  : string;

/** Parsed flags: booleans are always set, flags with a default always hold a value, others may be undefined. */
export type BenchValues<O> = {
  -readonly [K in keyof O]: O[K] extends { kind: 'boolean' } | { default: string | number } ? ValueOf<O[K]> : ValueOf<O[K]> | undefined;
};

export type BenchArgs<O> = { help: true } | { help: false; values: BenchValues<O>; positionals: string[] };

/** The bench's path as users type it, in usage lines and error messages. */
export function benchPath(name: string): string {
  return `bench/${name}.ts`;
}

/** The --help text: command line, what the bench does, every visible flag with its argument and default. */
export function benchHelp(cmd: BenchCommand): string {
  const pos = (cmd.positionals ?? []).map((p) => p.name).join(' ');
  const lines = [`Usage: node ${cmd.nodeFlags ? `${cmd.nodeFlags} ` : ''}--import tsx ${benchPath(cmd.name)}${pos ? ` ${pos}` : ''} [options]`, '', cmd.summary];
  const row = (left: string, help: string): void => {
    const [first, ...rest] = help.split('\n');
    lines.push(left.length < 26 ? `  ${left.padEnd(26)} ${first}` : `  ${left}\n  ${''.padEnd(26)} ${first}`);
    for (const r of rest) lines.push(`  ${''.padEnd(26)} ${r}`);
  };
  if (cmd.positionals?.length) {
    lines.push('', 'Arguments:');
    for (const p of cmd.positionals) row(p.name, p.help);
  }
  lines.push('', 'Options:');
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    if (o.hidden) continue;
    const def = o.defaultHelp ?? (o.default !== undefined ? String(o.default) : undefined);
    row(o.kind === 'boolean' ? `--${name}` : `--${name} ${argName(o)}`, `${o.help}${def !== undefined ? ` (default: ${def})` : ''}`);
  }
  row('-h, --help', 'show this help and exit');
  if (cmd.notes?.length) lines.push('', ...cmd.notes);
  return lines.join('\n');
}

function argName(o: BenchOption): string {
  return o.arg ?? (o.choices ? o.choices.join('|') : o.kind === 'integers' ? 'N,N,...' : o.kind.toUpperCase());
}

function nodeOptions(cmd: BenchCommand): Record<string, { type: 'string' | 'boolean' }> {
  return Object.fromEntries(Object.entries(cmd.options ?? {}).map(([n, o]) => [n, { type: o.kind === 'boolean' ? 'boolean' : 'string' }]));
}

/** A flag's raw text as the value its kind promises, or a usage error saying what form it needs. */
function convert(name: string, o: BenchOption, raw: string): string | number | number[] {
  const bad = (form: string): UsageError => new UsageError(`--${name} must be ${form}, got "${raw}"`);
  switch (o.kind) {
    case 'integer': {
      const min = o.min ?? 1;
      const v = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(v) || v < min) throw bad(min === 1 ? 'a positive integer' : `an integer ≥ ${min}`);
      return v;
    }
    case 'number': {
      const v = raw.trim() === '' ? NaN : Number(raw);
      const bounds = [o.min !== undefined ? `≥ ${o.min}` : '', o.above !== undefined ? `> ${o.above}` : ''].filter(Boolean).join(' and ');
      if (!Number.isFinite(v) || (o.min !== undefined && v < o.min) || (o.above !== undefined && v <= o.above)) throw bad(`a number${bounds ? ` ${bounds}` : ''}`);
      return v;
    }
    case 'integers': {
      const parts = raw.split(',');
      if (!parts.every((p) => /^\s*\d+\s*$/.test(p) && Number.isSafeInteger(Number(p)))) throw bad('comma-separated non-negative integers (1,2,3)');
      return parts.map(Number);
    }
    default:
      if (raw === '') throw new UsageError(`--${name} needs a value (${argName(o)})`);
      if (o.choices && !o.choices.includes(raw)) throw bad(`one of ${o.choices.join(', ')}`);
      return raw;
  }
}

/**
 * Parses a bench's argv against its declared flags, without side effects (tests call it
 * directly): unknown flags, missing values and values of the wrong form throw a UsageError
 * whose message is the reason alone; `benchArgs` adds the file name and exits. One lenient pass
 * of node's parseArgs splits argv into tokens and each token is checked here, so every rejection
 * is one short reason (node's strict messages run to three lines).
 */
export function parseBenchArgs<const O extends Readonly<Record<string, BenchOption>>>(cmd: BenchCommand<O>, argv: readonly string[]): BenchArgs<O> {
  if (wantsHelp(argv)) return { help: true };
  const options: Readonly<Record<string, BenchOption>> = cmd.options ?? {};
  const npos = cmd.positionals?.length ?? 0;
  const { tokens } = parseArgs({ args: [...argv], options: nodeOptions(cmd), strict: false, allowPositionals: true, tokens: true });
  const raw: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (positionals.length === npos) throw new UsageError(`unexpected argument "${t.value}"`);
      positionals.push(t.value);
    } else if (t.kind === 'option') {
      const o = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
      if (!o) {
        const visible = Object.entries(options).filter(([, x]) => !x.hidden).map(([n]) => n);
        throw new UsageError(`unknown option ${t.rawName}${didYouMean(t.name, [...visible, 'help'], '--')}`);
      }
      if (o.kind === 'boolean') {
        if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value`);
        raw[t.name] = true;
      } else {
        if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))) throw new UsageError(`${t.rawName} needs a value (${argName(o)})`);
        raw[t.name] = t.value;
      }
    }
  }
  if (positionals.length < npos) {
    const p = cmd.positionals![positionals.length]!;
    throw new UsageError(`missing ${p.name} (${p.help.split('\n')[0]})`);
  }
  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(options)) {
    const r = raw[name];
    if (o.kind === 'boolean') values[name] = r === true;
    else if (typeof r === 'string') values[name] = convert(name, o, r);
    else values[name] = o.default;
  }
  return { help: false, values: values as BenchValues<O>, positionals };
}

/** Ends the bench as a usage error: one line on stderr naming the file, exit status 2. */
export function exitWithUsageError(name: string, why: string): never {
  process.stderr.write(`${benchPath(name)}: ${why}; see --help\n`);
  process.exit(2);
}

/**
 * The bench's command line from process.argv: prints --help and exits 0, or prints a one-line
 * usage error and exits 2, before the bench does any work; otherwise the parsed flags.
 */
export function benchArgs<const O extends Readonly<Record<string, BenchOption>>>(cmd: BenchCommand<O>, argv: readonly string[] = process.argv.slice(2)): { values: BenchValues<O>; positionals: string[] } {
  let r: BenchArgs<O>;
  try {
    r = parseBenchArgs(cmd, argv);
  } catch (e) {
    if (e instanceof UsageError) exitWithUsageError(cmd.name, e.message);
    throw e;
  }
  if (r.help) {
    process.stdout.write(`${benchHelp(cmd)}\n`);
    process.exit(0);
  }
  return r;
}
