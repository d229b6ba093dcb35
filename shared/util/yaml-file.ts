// Reads a YAML (or JSON) config file into plain data, with errors that name the file.
import { parse as parseYaml } from 'yaml';
import { FedistillError } from './errors.ts';
import { readFileUpTo } from './bounded-read.ts';

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
  let got: ReturnType<typeof readFileUpTo>;
  // the size is checked (fstat, or while reading a pipe) before the file is read whole
  try { got = readFileUpTo(path, MAX_CONFIG_BYTES); } catch (e) {
    throw new FedistillError(missing, `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${o.hint ?? ''}`);
  }
  if (!got.ok) throw new FedistillError(invalid, `${what} ${path} is larger than ${MAX_CONFIG_BYTES} bytes; config files are small: is this the right file?`);
  const text = got.bytes.toString('utf8');
  try {
    return parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new FedistillError(invalid, `${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}
