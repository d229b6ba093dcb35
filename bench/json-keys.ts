// The benches print JSON with snake_case keys, as `fedistill ... --json` does; internal TypeScript
// structures are camelCase. These convert object keys at the print boundary (and back, where a
// bench reads its own printed output), leaving values, arrays' order and key order alone.
// Not a bench: test/unit/bench/bench-command-lines.test.ts leaves it out.

/**
 * Objects whose keys are data (case, site, provider or op names), not field names: their keys are
 * kept as they are; their values are still converted. Dot-separated paths from the printed root,
 * spelled in snake_case (as printed), `*` for any one key, '' for the root itself; an array's
 * elements sit at the array's own path.
 */
export type DataKeyPaths = readonly string[];

/** `frameMiB` → `frame_mib`, `maxRelDiff` → `max_rel_diff`; a key that is not a lower camelCase identifier is kept. */
export function snakeCaseKey(key: string): string {
  if (!/^[a-z][A-Za-z0-9_]*$/.test(key)) return key;
  return key
    .replace(/([KMGT])iB/g, '$1ib') // binary units are one word: MiB → mib, not mi_b
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/** `exported_probs` → `exportedProbs`; a key that is not a lower snake_case identifier is kept. */
export function camelCaseKey(key: string): string {
  if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)+$/.test(key)) return key;
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function matches(pattern: readonly string[], path: readonly string[]): boolean {
  return pattern.length === path.length && pattern.every((p, i) => p === '*' || p === path[i]);
}

function convert(value: unknown, rename: (key: string) => string, printed: (key: string, renamed: string) => string, data: readonly string[][], path: string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => convert(v, rename, printed, data, path));
  // plain objects only: typed arrays, dates and the like are values (JSON.stringify decides how they print)
  if (value === null || typeof value !== 'object') return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const keep = data.some((p) => matches(p, path));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => {
    const renamed = keep ? k : rename(k);
    return [renamed, convert(v, rename, printed, data, [...path, printed(k, renamed)])];
  }));
}

const parse = (paths: DataKeyPaths): string[][] => paths.map((p) => (p === '' ? [] : p.split('.')));

/** A deep copy of `value` whose object keys are snake_case, except the keys of the objects at `dataKeys`. */
export function snakeCaseKeys(value: unknown, dataKeys: DataKeyPaths = []): unknown {
  return convert(value, snakeCaseKey, (_, renamed) => renamed, parse(dataKeys), []);
}

/**
 * The inverse for JSON a bench printed with `snakeCaseKeys` and reads back into its TypeScript
 * types (exact for keys without digits or binary units); `dataKeys` as printed, the same list.
 */
export function camelCaseKeys(value: unknown, dataKeys: DataKeyPaths = []): unknown {
  return convert(value, camelCaseKey, (k) => k, parse(dataKeys), []);
}
