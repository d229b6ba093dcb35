// Declarative command-line parsing: every command declares its flags, so --help, defaults,
// validation and "did you mean" hints come from one place.
import { UsageError } from '../shared/util/errors.ts';

export type FlagType = 'string' | 'number' | 'integer' | 'boolean';

export interface FlagSpec {
  type: FlagType;
  help: string;
  default?: string | number | boolean;
  required?: boolean;
  choices?: readonly string[];
  /** Placeholder shown in help, e.g. FILE. */
  arg?: string;
}

export interface PositionalSpec {
  name: string;
  help: string;
  required?: boolean;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export interface ParsedArgs {
  flags: FlagValues;
  positionals: string[];
}

/** What a command writes to; tests capture it, the CLI binds it to the process. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

export interface CommandSpec {
  name: string;
  summary: string;
  description?: string;
  flags?: Record<string, FlagSpec>;
  positionals?: PositionalSpec[];
  examples?: string[];
  subcommands?: CommandSpec[];
  /** Returns an exit code (0 when omitted). */
  run?: (args: ParsedArgs, io: CliIO) => Promise<number | void> | number | void;
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** The closest candidate within a small edit distance, or undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) { best = c; bestD = d; }
  }
  return best;
}

function hint(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c ? ` (did you mean ${c}?)` : '';
}

function convert(name: string, spec: FlagSpec, raw: string): string | number | boolean {
  switch (spec.type) {
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw new UsageError(`--${name} takes true or false, got "${raw}"`);
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
      return v;
    }
    case 'integer': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isSafeInteger(v)) throw new UsageError(`--${name} must be an integer, got "${raw}"`);
      return v;
    }
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got "${raw}"${hint(raw, spec.choices)}`);
      }
      return raw;
  }
}

/**
 * Parses argv against a command's flags. `--help` is always accepted and reported as
 * flags.help = true so the caller can print help before validating required flags.
 */
export function parseArgs(cmd: CommandSpec, argv: readonly string[], path: string): ParsedArgs {
  const specs = cmd.flags ?? {};
  const flags: FlagValues = {};
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (onlyPositionals || !a.startsWith('-') || a === '-') { positionals.push(a); continue; }
    if (a === '--') { onlyPositionals = true; continue; }
    if (a === '-h' || a === '--help') { flags.help = true; continue; }
    if (!a.startsWith('--')) throw new UsageError(`unknown option ${a} for "${path}"; run "${path} --help"`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const spec = specs[name];
    if (!spec) {
      throw new UsageError(`unknown option --${name} for "${path}"${hint(name, Object.keys(specs).map(String))}; run "${path} --help"`);
    }
    let raw: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
    if (raw === undefined) {
      if (spec.type === 'boolean') { flags[name] = true; continue; }
      raw = argv[++i];
      if (raw === undefined) throw new UsageError(`--${name} needs a value (${spec.arg ?? spec.type})`);
    }
    flags[name] = convert(name, spec, raw);
  }
  if (flags.help) return { flags, positionals };
  for (const [name, spec] of Object.entries(specs)) {
    if (flags[name] === undefined) {
      if (spec.default !== undefined) flags[name] = spec.default;
      else if (spec.type === 'boolean') flags[name] = false;
      else if (spec.required) throw new UsageError(`missing --${name} (${spec.help}); run "${path} --help"`);
    }
  }
  const pos = cmd.positionals ?? [];
  const needed = pos.filter((p) => p.required).length;
  if (positionals.length < needed) {
    throw new UsageError(`missing ${pos[positionals.length]!.name.toUpperCase()} (${pos[positionals.length]!.help}); run "${path} --help"`);
  }
  if (positionals.length > pos.length) {
    throw new UsageError(`unexpected argument "${positionals[pos.length]}" for "${path}"; run "${path} --help"`);
  }
  return { flags, positionals };
}

/** Help text for a command: usage, description, subcommands, flags with defaults, examples. */
export function helpText(cmd: CommandSpec, path: string): string {
  const lines: string[] = [];
  const pos = (cmd.positionals ?? []).map((p) => (p.required ? p.name.toUpperCase() : `[${p.name.toUpperCase()}]`)).join(' ');
  if (cmd.subcommands?.length) lines.push(`Usage: ${path} <command> [options]`);
  else lines.push(`Usage: ${path}${pos ? ' ' + pos : ''} [options]`);
  lines.push('', cmd.description ?? cmd.summary);
  if (cmd.subcommands?.length) {
    lines.push('', 'Commands:');
    const w = Math.max(...cmd.subcommands.map((s) => s.name.length));
    for (const s of cmd.subcommands) lines.push(`  ${s.name.padEnd(w)}  ${s.summary}`);
    lines.push('', `Run "${path} <command> --help" for a command's options.`);
  }
  if (cmd.positionals?.length) {
    lines.push('', 'Arguments:');
    for (const p of cmd.positionals) lines.push(`  ${p.name.toUpperCase().padEnd(22)} ${p.help}`);
  }
  const entries = Object.entries(cmd.flags ?? {});
  lines.push('', 'Options:');
  for (const [name, s] of entries) {
    const left = `--${name}${s.type === 'boolean' ? '' : ' ' + (s.arg ?? (s.choices ? s.choices.join('|') : s.type.toUpperCase()))}`;
    const extra = [s.required ? 'required' : '', s.default !== undefined ? `default: ${s.default}` : ''].filter(Boolean).join(', ');
    lines.push(`  ${left.padEnd(30)} ${s.help}${extra ? ` (${extra})` : ''}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(30)} show this help`);
  if (cmd.examples?.length) {
    lines.push('', 'Examples:');
    for (const e of cmd.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n');
}
