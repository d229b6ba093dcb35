// Reads a YAML (or JSON) config file into plain data, with errors that name the file.
import { type Document, isNode, isScalar, parseDocument, visit } from 'yaml';
import { FedistillError } from './errors.ts';
import { readFileUpTo } from './bounded-read.ts';

/**
 * Run, site and scenario files are small (the largest shipped is 2.3 KB); anything larger is refused
 * before parsing. The YAML parser spends 5 to 17 s on a MiB of collections, so this bounds a bad
 * file's cost too. The allowlist, one line per site, has its own larger cap.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface YamlFileOptions {
  /** Error code when the file cannot be read (default E_CONFIG_MISSING). */
  missingCode?: string;
  /** Error code when it is not YAML (default E_CONFIG_INVALID). */
  invalidCode?: string;
  /** Appended to the "cannot read" message, e.g. "; pass a file such as …". */
  hint?: string;
}

/**
 * Flow collections ([…], {…}) nested deeper than this are refused before parsing: the parser
 * tokenises all of them before it overflows its stack, about 7 s and 600 MB per MiB of brackets.
 */
export const MAX_FLOW_DEPTH = 100;

/**
 * Block and flow nesting together, by blockDepth's estimate plus flowDepth: at most about 300 real
 * levels, well below the ~900 where the parser overflows its stack (a second overflow in one
 * process aborted Node).
 */
export const MAX_NESTING = 150;

/**
 * The deepest nesting of [ and { in `text`, counting every bracket, quoted or commented ones too:
 * never below the real depth (a scanner that tracked quotes could be fooled into skipping brackets),
 * above it only for brackets in strings, which no config holds by the hundred.
 */
function flowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) { if (++depth > max) max = depth; } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
}

/**
 * An estimate of how deep block collections nest in `text`, at least half the real depth: the
 * indentation levels open at each line (a stack of indents) plus the compact collections the line
 * opens ("- - - x", "? - x"). A block sequence may sit at its key's indentation ("a:\n- b:"), so
 * one level of indent can hold a mapping and a sequence: hence half. Blank and comment lines are
 * skipped; block-scalar text more indented than its key only raises the estimate.
 */
function blockDepth(text: string): number {
  const indents: number[] = [];
  let max = 0;
  for (const line of text.split('\n')) {
    let i = 0;
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i === line.length || line[i] === '#' || line[i] === '\r') continue;
    while (indents.length > 0 && indents[indents.length - 1]! >= i) indents.pop();
    indents.push(i);
    let compact = 0;
    for (let j = i; j < line.length && (line[j] === '-' || line[j] === '?' || line[j] === ':') && (j + 1 === line.length || line[j + 1] === ' ' || line[j + 1] === '\t');) {
      compact++;
      j += 2;
      while (j < line.length && (line[j] === ' ' || line[j] === '\t')) j++;
    }
    max = Math.max(max, indents.length + compact);
  }
  return max;
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
    return parseConfigYaml(text);
  } catch (e) {
    throw new FedistillError(invalid, `${path} is ${(e as Error).message}`);
  }
}

/**
 * Parses config text as YAML: at most 100 aliases (no alias bombs), [ { nesting at most
 * MAX_FLOW_DEPTH deep, block nesting with it at most MAX_NESTING by blockDepth's estimate, keys plain
 * scalars, each once per mapping.
 * Throws an Error whose message completes "FILE is …" ("not valid YAML: …").
 */
export function parseConfigYaml(text: string): unknown {
  const depth = flowDepth(text);
  if (depth > MAX_FLOW_DEPTH) throw new Error(`not valid YAML for fedistill: its [ and { nest ${depth} levels deep, more than ${MAX_FLOW_DEPTH}`);
  const block = blockDepth(text);
  if (block + depth > MAX_NESTING) throw new Error(`not valid YAML for fedistill: its collections nest about ${block + depth} levels deep (indentation, "- " and "? " with [ and {), more than ${MAX_NESTING}`);
  let doc: Document.Parsed;
  try {
    // keys are checked for duplicates below, in one pass: the parser's own check compares every
    // pair of a mapping's keys (40,000 lines took 38 s instead of 4)
    doc = parseDocument(text, { uniqueKeys: false });
  } catch (e) {
    throw new Error(`not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const error = doc.errors[0];
  if (error) throw new Error(`not valid YAML: ${error.message.split('\n')[0]}`);
  const bad = badKey(doc, text);
  if (bad !== undefined) throw new Error(bad);
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new Error(`not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * Why the document's keys are refused, if they are: a key that is a collection or an alias
 * ("? [a, b]: 1", "{a: 1}: 2", "*x: 1"; no fedistill config has one, and turning nested ones into
 * strings cost the parser minutes within the size and nesting limits), or the first key that appears
 * twice in one mapping (as the parser's uniqueKeys compares them: scalars by value).
 */
function badKey(doc: Document.Parsed, text: string): string | undefined {
  let found: string | undefined;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const k = pair.key as unknown;
        if (k !== null && !isScalar(k)) {
          const at = isNode(k) && k.range ? ` (line ${lineOf(text, k.range[0])})` : '';
          found = `not valid YAML for fedistill: a mapping key${at} is a collection or an alias; keys are plain names such as "rounds"`;
          return visit.BREAK;
        }
        const value = isScalar(k) ? k.value : null;
        const id = `${typeof value}:${String(value)}`;
        if (seen.has(id)) { found = `not valid YAML: Map keys must be unique; ${JSON.stringify(value)} appears twice in one mapping`; return visit.BREAK; }
        seen.add(id);
      }
      return undefined;
    },
  });
  return found;
}

/** The 1-based line of character `offset` in `text`. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
