// The fedistill command line: dispatches to commands; turns errors into one line, an exit code and (with --json) one JSON object.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FedistillError, EXIT_FAILURE, UsageError } from '../shared/util/errors.ts';
import { type CliIO, type CommandSpec, helpText, parseArgs } from './parse.ts';
import { didYouMean } from '../shared/util/suggest.ts';
import { commands } from './commands/index.ts';
import { errorJson } from './error-json.ts';

/** The package version, from package.json one or two folders up (sources, or the build in dist/). */
export const VERSION: string = (() => {
  for (const rel of ['../package.json', '../../package.json']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return JSON.parse(readFileSync(p, 'utf8')).version as string;
  }
  return '0.0.0';
})();

export const root: CommandSpec = {
  name: 'fedistill',
  summary: 'federated, privacy-preserving knowledge distillation',
  description:
    'fedistill: federated, privacy-preserving knowledge distillation.\n' +
    'Sites keep their data and share only clipped, noised predictions on a public set;\n' +
    'an aggregator combines them and charges every release to a privacy ledger.',
  flags: { version: { type: 'boolean', help: 'print the version (-v)' } },
  examples: ['fedistill start', 'fedistill data list', 'fedistill help train', 'fedistill train --limit 2000 --epochs 1 --json'],
  subcommands: commands,
};

const processIO: CliIO = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
};

/** Exit status when the reader of stdout went away (`fedistill … | head`): 128 + SIGPIPE, as shells report for other tools. */
export const EXIT_CLOSED_PIPE = 141;

let outputGuarded = false;

/**
 * A reader that stops early closes the pipe, and the next write fails with EPIPE: that is the
 * reader's choice, not a fedistill failure, so the process ends at once, silently, with
 * EXIT_CLOSED_PIPE (as `yes | head` does). Any other failure to write the output is one line
 * and exit 1, never an unhandled 'error' event with a stack trace.
 */
function exitQuietlyWhenOutputCloses(): void {
  if (outputGuarded) return;
  outputGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(EXIT_CLOSED_PIPE);
      try { process.stderr.write(`fedistill: cannot write the output (${e.code ?? e.message})\n`); } catch { /* stderr is gone too */ }
      process.exit(EXIT_FAILURE);
    });
  }
}

/**
 * Whether the caller asked for machine-readable output (--json, or --format json): then a
 * failure, too, is one JSON object on stdout, so a script never has to parse stderr.
 */
export function wantsJson(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return false;
    if (a === '--json' || a === '--json=true' || a === '--format=json' || (a === '--format' && argv[i + 1] === 'json')) return true;
  }
  return false;
}

export { errorJson };

/** "unknown command" with a hint: a near name at this level, or the group that holds the exact name. */
function unknownCommand(name: string, cmd: CommandSpec, path: string): UsageError {
  let hint = didYouMean(name, cmd.subcommands!.map((s) => s.name));
  if (!hint) {
    const owner = cmd.subcommands!.find((g) => g.subcommands?.some((s) => s.name === name));
    if (owner) hint = ` (did you mean ${owner.name} ${name}?)`;
  }
  return new UsageError(`unknown command "${name}"${hint}; run "${path} --help"`);
}

/** Runs the CLI on argv (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  if (io === processIO) exitQuietlyWhenOutputCloses();
  // `fedistill help [command...]` is what newcomers type first; it is `fedistill [command...] --help`.
  if (argv[0] === 'help') return runCli([...argv.slice(1), '--help'], io);
  const json = wantsJson(argv);
  let cmd = root;
  let path = 'fedistill';
  let i = 0;
  try {
    while (cmd.subcommands?.length && i < argv.length && !argv[i]!.startsWith('-')) {
      const name = argv[i]!;
      const sub = cmd.subcommands.find((s) => s.name === name);
      if (!sub) throw unknownCommand(name, cmd, path);
      cmd = sub;
      path += ' ' + name;
      i++;
    }
    const rest = argv.slice(i);
    if (cmd === root && (rest.includes('--version') || rest.includes('-v'))) {
      io.out(json ? JSON.stringify({ version: VERSION }) : VERSION);
      return 0;
    }
    const args = parseArgs(cmd, rest, path);
    if (args.flags.help || !cmd.run) {
      if (!args.flags.help && cmd.subcommands?.length) {
        io.err(helpText(cmd, path));
        throw new UsageError(`"${path}" needs a command: ${cmd.subcommands.map((s) => s.name).join(', ')}`);
      }
      io.out(helpText(cmd, path));
      return 0;
    }
    return (await cmd.run(args, io)) ?? 0;
  } catch (e) {
    const oneLine = (t: string) => t.replace(/\s*\n\s*/g, ' ').trim();
    if (e instanceof FedistillError) {
      const message = oneLine(e.message);
      io.err(`${path}: ${message} [${e.code}]`);
      if (json) io.out(errorJson(path, e.code, message, e.exitCode));
      return e.exitCode;
    }
    const err = e as Error;
    const message = oneLine(`internal error: ${err?.message ?? String(e)}`);
    io.err(`${path}: ${message}`);
    if (process.env.FEDISTILL_DEBUG) io.err(err?.stack ?? '');
    else io.err('(set FEDISTILL_DEBUG=1 for a stack trace, and please report it)');
    if (json) io.out(errorJson(path, 'E_INTERNAL', message, EXIT_FAILURE));
    return EXIT_FAILURE;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
