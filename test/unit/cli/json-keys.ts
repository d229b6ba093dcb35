// Test helper: finds object keys with capitals in a command's JSON output, outside the maps whose keys are data.

/**
 * Every key (as a path, `a.b[0].c`) that has a capital letter, anywhere in `value`. The keys of an
 * object held under a name in `dataMaps` (site names under `site_accuracy`, release names under
 * `releases`) are data, not field names: they are not judged, but what they hold is.
 */
export function keysWithCapitals(value: unknown, dataMaps: readonly string[] = [], path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysWithCapitals(v, dataMaps, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  const isDataMap = dataMaps.includes(path.split('.').at(-1)!.replace(/\[\d+\]$/, ''));
  const found: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (!isDataMap && /[A-Z]/.test(key)) found.push(`${path}.${key}`);
    found.push(...keysWithCapitals(v, dataMaps, `${path}.${key}`));
  }
  return found;
}
