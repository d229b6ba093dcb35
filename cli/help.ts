// Help text for a command, built from its declared flags so that help cannot drift from what is parsed.
import type { CommandSpec, FlagSpec } from './parse.ts';

const LEFT = 30;

/** The bounds a flag enforces, as help shows them ("≥ 1", "> 0"). */
function boundsText(s: FlagSpec): string {
  const parts: string[] = [];
  if (s.min !== undefined) parts.push(`≥ ${s.min}`);
  if (s.above !== undefined) parts.push(`> ${s.above}`);
  return parts.join(', ');
}

/** One option row; a long left column puts the help on the next line rather than misalign the table. */
function optionLine(left: string, help: string): string[] {
  if (left.length < LEFT) return [`  ${left.padEnd(LEFT)} ${help}`];
  return [`  ${left}`, `  ${''.padEnd(LEFT)} ${help}`];
}

/** Help text for a command: usage, description, subcommands, flags with bounds and defaults, examples. */
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
  lines.push('', 'Options:');
  for (const [name, s] of Object.entries(cmd.flags ?? {})) {
    const left = `--${name}${s.type === 'boolean' ? '' : ' ' + (s.arg ?? (s.choices ? s.choices.join('|') : s.type.toUpperCase()))}`;
    const extra = [s.required ? 'required' : '', boundsText(s), s.default !== undefined ? `default: ${s.default}` : s.defaultHelp ? `default: ${s.defaultHelp}` : ''].filter(Boolean).join(', ');
    lines.push(...optionLine(left, `${s.help}${extra ? ` (${extra})` : ''}`));
  }
  lines.push(...optionLine('-h, --help', 'show this help'));
  if (cmd.examples?.length) {
    lines.push('', 'Examples:');
    for (const e of cmd.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n');
}
