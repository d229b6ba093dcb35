// The command registry: one file per top-level command, listed in the order help shows them.
import type { CommandSpec } from '../parse.ts';
import { startCommand } from './start.ts';
import { dataCommand } from './data.ts';

export const commands: CommandSpec[] = [startCommand, dataCommand];
