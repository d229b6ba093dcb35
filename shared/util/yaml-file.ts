// Reads a YAML (or JSON) config file into plain data, with errors that name the file.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FedistillError } from './errors.ts';

/** Config files are small; anything larger is refused before parsing. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** Parses `path` as YAML; `what` names the file in errors ("run config", "scenario"). */
export function readYamlFile(path: string, what: string): unknown {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new FedistillError('E_CONFIG_MISSING', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new FedistillError('E_CONFIG_INVALID', `${what} ${path} is larger than ${MAX_CONFIG_BYTES} bytes`);
  try {
    return parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new FedistillError('E_CONFIG_INVALID', `${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}
