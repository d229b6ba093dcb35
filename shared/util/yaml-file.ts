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
  // regular files only, opened non-blocking: a FIFO with no writer would hang the command for ever,
  // a device such as /dev/zero is not a config; the size is checked from fstat before reading
  try { got = readFileUpTo(path, MAX_CONFIG_BYTES, { regularOnly: true }); } catch (e) {
    throw new FedistillError(missing, `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${o.hint ?? ''}`);
  }
  if (!got.ok && got.why === 'not_a_file') {
    throw new FedistillError(missing, `cannot read ${what} ${path}: not a regular file (a pipe, socket or device); write it to a file and pass that file's path`);
  }
  if (!got.ok) throw new FedistillError(invalid, `${what} ${path} is larger than ${MAX_CONFIG_BYTES} bytes; config files are small: is this the right file?`);
  const text = got.bytes.toString('utf8');
  try {
    return parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new FedistillError(invalid, `${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}
