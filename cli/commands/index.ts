// The command registry: one file per top-level command, listed in the order help shows them.
import type { CommandSpec } from '../parse.ts';
import { startCommand } from './start.ts';
import { dataCommand } from './data.ts';
import { privacyCommand } from './privacy.ts';
import { trainCommand } from './train.ts';
import { keysCommand } from './keys.ts';
import { serverCommand } from './server.ts';
import { clientCommand } from './client.ts';
import { auditCommand } from './audit.ts';
import { simulateCommand } from './simulate.ts';

export const commands: CommandSpec[] = [startCommand, dataCommand, privacyCommand, trainCommand, keysCommand, serverCommand, clientCommand, auditCommand, simulateCommand];
