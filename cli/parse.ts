// Declarative command-line parsing: every command declares its flags, so --help, defaults,
// validation and "did you mean" hints come from one place.
import { UsageError } from '../shared/util/errors.ts';
import { didYouMean } from '../shared/util/suggest.ts';

export { closest, editDistance } from '../shared/util/suggest.ts';
export { helpText } from './help.ts';

export type FlagType = 'string' | 'number' | 'integer' | 'boolean';

export interface FlagSpec {
  type: FlagType;
  help: string;
  default?: string | number | boolean;
  required?: boolean;
  choices?: readonly string[];
  /** Placeholder shown in help, e.g. FILE. */
  arg?: string;
  /** number/integer: smallest value accepted (inclusive); checked before the command runs. */
  min?: number;
  /** number/integer: values must be strictly greater than this. */
  above?: number;
  /** The default in words, for flags whose default is computed at run time ("all cores"). */
  defaultHelp?: string;
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

/** True when argv asks for help (before any "--"): help wins over every other error. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '-h' || a === '--help') return true;
  }
  return false;
}

function checkBounds(name: string, spec: FlagSpec, v: number): void {
  if (spec.min !== undefined && !(v >= spec.min)) throw new UsageError(`--${name}: must be ≥ ${spec.min}, got ${v}`, 'E_INVALID_PARAMETER');
  if (spec.above !== undefined && !(v > spec.above)) throw new UsageError(`--${name}: must be > ${spec.above}, got ${v}`, 'E_INVALID_PARAMETER');
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
      checkBounds(name, spec, v);
      return v;
    }
    case 'integer': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isSafeInteger(v)) throw new UsageError(`--${name} must be an integer, got "${raw}"`);
      checkBounds(name, spec, v);
      return v;
    }
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got "${raw}"${didYouMean(raw, spec.choices)}`);
      }
      return raw;
  }
}

/** The "unknown option" error, with the nearest flag of this command (help included) as a hint. */
function unknownOption(arg: string, specs: Record<string, FlagSpec>, path: string): UsageError {
  const word = arg.replace(/^-+/, '').split('=')[0]!;
  const hint = didYouMean(word, [...Object.keys(specs), 'help'], '--');
  return new UsageError(`unknown option ${arg.split('=')[0]}${hint}; run "${path} --help"`);
}

/**
 * Parses argv against a command's flags. `--help` anywhere (before "--") is reported as
 * flags.help = true and nothing else is checked, so help is always reachable.
 */
export function parseArgs(cmd: CommandSpec, argv: readonly string[], path: string): ParsedArgs {
  const specs = cmd.flags ?? {};
  if (wantsHelp(argv)) return { flags: { help: true }, positionals: [] };
  const flags: FlagValues = {};
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (onlyPositionals || !a.startsWith('-') || a === '-') { positionals.push(a); continue; }
    if (a === '--') { onlyPositionals = true; continue; }
    if (!a.startsWith('--')) throw unknownOption(a, specs, path);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) throw unknownOption(a, specs, path);
    let raw: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
    if (raw === undefined) {
      if (spec.type === 'boolean') { flags[name] = true; continue; }
      raw = argv[++i];
      if (raw === undefined || raw.startsWith('--')) throw new UsageError(`--${name} needs a value (${spec.arg ?? spec.type}); run "${path} --help"`);
    }
    flags[name] = convert(name, spec, raw);
  }
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
    throw new UsageError(`unexpected argument "${positionals[pos.length]}"; run "${path} --help"`);
  }
  return { flags, positionals };
}
