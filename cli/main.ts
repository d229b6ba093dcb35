// The fedistill command line: dispatches to commands, turns errors into one line and an exit code.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FedistillError, EXIT_FAILURE, EXIT_USAGE, UsageError } from '../shared/util/errors.ts';
import { type CliIO, type CommandSpec, closest, helpText, parseArgs } from './parse.ts';
import { commands } from './commands/index.ts';

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
  flags: { version: { type: 'boolean', help: 'print the version' } },
  subcommands: commands,
};

const processIO: CliIO = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
};

/** Runs the CLI on argv (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  let cmd = root;
  let path = 'fedistill';
  let i = 0;
  try {
    while (cmd.subcommands?.length && i < argv.length && !argv[i]!.startsWith('-')) {
      const name = argv[i]!;
      const sub = cmd.subcommands.find((s) => s.name === name);
      if (!sub) {
        const c = closest(name, cmd.subcommands.map((s) => s.name));
        throw new UsageError(`unknown command "${name}" for "${path}"${c ? ` (did you mean ${c}?)` : ''}; run "${path} --help"`);
      }
      cmd = sub;
      path += ' ' + name;
      i++;
    }
    const rest = argv.slice(i);
    if (cmd === root && (rest.includes('--version') || rest.includes('-v'))) {
      io.out(VERSION);
      return 0;
    }
    const args = parseArgs(cmd, rest, path);
    if (args.flags.help || !cmd.run) {
      if (!args.flags.help && cmd.subcommands?.length) {
        io.err(helpText(cmd, path));
        return EXIT_USAGE;
      }
      io.out(helpText(cmd, path));
      return 0;
    }
    return (await cmd.run(args, io)) ?? 0;
  } catch (e) {
    if (e instanceof FedistillError) {
      io.err(`${path}: ${e.message} [${e.code}]`);
      return e.exitCode;
    }
    const err = e as Error;
    io.err(`${path}: internal error: ${err?.message ?? String(e)}`);
    if (process.env.FEDISTILL_DEBUG) io.err(err?.stack ?? '');
    else io.err('(set FEDISTILL_DEBUG=1 for a stack trace, and please report it)');
    return EXIT_FAILURE;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
