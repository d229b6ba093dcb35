// Reads a YAML (or JSON) config file into plain data, with errors that name the file.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FedistillError } from './errors.ts';

/** Config files are small; anything larger is refused before parsing. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export interface YamlFileOptions {
  /** Error code when the file cannot be read (default E_CONFIG_MISSING). */
  missingCode?: string;
  /** Error code when it is not YAML (default E_CONFIG_INVALID). */
  invalidCode?: string;
  /** Appended to the "cannot read" message, e.g. "; pass a file such as …". */
  hint?: string;
}

/** Parses `path` as YAML; `what` names the file in errors ("run config", "scenario"). */
export function readYamlFile(path: string, what: string, o: YamlFileOptions = {}): unknown {
  const missing = o.missingCode ?? 'E_CONFIG_MISSING';
  const invalid = o.invalidCode ?? 'E_CONFIG_INVALID';
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new FedistillError(missing, `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${o.hint ?? ''}`);
  }
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new FedistillError(invalid, `${what} ${path} is larger than ${MAX_CONFIG_BYTES} bytes`);
  try {
    return parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new FedistillError(invalid, `${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}
