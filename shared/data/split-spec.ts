// Parses dataset split specs such as "mnist:test[0:9000]": the one way datasets are named in configs, CLIs and messages.
import { UsageError } from '../util/errors.ts';

/** A parsed split spec. `split` is undefined for a bare dataset name ("mnist"). */
export interface SplitSpec {
  readonly dataset: string;
  readonly split?: string;
  /** Python-like half-open range bounds as written; negative counts from the end; undefined when omitted. */
  readonly start?: number;
  readonly end?: number;
}

const SPEC = /^([a-z0-9][a-z0-9_-]*)(?::([a-z0-9][a-z0-9_-]*)(?:\[\s*(-?\d+)?\s*:\s*(-?\d+)?\s*\])?)?$/i;

function badSpec(s: string, why: string): UsageError {
  return new UsageError(
    `bad split spec "${s}": ${why}; write DATASET:SPLIT or DATASET:SPLIT[START:END], e.g. mnist:test[0:9000] or fashion-mnist:train[:5000]`,
    'E_BAD_SPLIT_SPEC',
  );
}

/** Parses "dataset", "dataset:split" or "dataset:split[start:end]" (either bound may be omitted). */
export function parseSplitSpec(s: string): SplitSpec {
  const m = SPEC.exec(s.trim());
  if (!m) {
    if (/\[[^\]]*$/.test(s)) throw badSpec(s, 'unclosed "["');
    if (/\[\s*-?\d+\s*\]/.test(s)) throw badSpec(s, 'a single index is not a range; use [i:i+1]');
    throw badSpec(s, 'it does not match the grammar');
  }
  const [, dataset, split, a, b] = m;
  const bound = (t: string | undefined): number | undefined => {
    if (t === undefined) return undefined;
    const v = Number(t);
    if (!Number.isSafeInteger(v)) throw badSpec(s, `bound ${t} is not a safe integer`);
    return v;
  };
  return { dataset: dataset!.toLowerCase(), split: split?.toLowerCase(), start: bound(a), end: bound(b) };
}

/**
 * Resolves a spec's range against a split of `length` samples to absolute [start, end).
 * Unlike Python, out-of-range bounds and empty ranges are errors: a typo in a public-set
 * spec must not silently shrink it.
 */
export function resolveRange(spec: SplitSpec, length: number, text = formatSplitSpec(spec)): [number, number] {
  const abs = (v: number | undefined, dflt: number): number => (v === undefined ? dflt : v < 0 ? length + v : v);
  const start = abs(spec.start, 0);
  const end = abs(spec.end, length);
  if (start < 0 || start > length) throw badSpec(text, `start ${spec.start} is outside 0..${length} (the split has ${length} samples)`);
  if (end < 0 || end > length) throw badSpec(text, `end ${spec.end} is outside 0..${length} (the split has ${length} samples)`);
  if (end <= start) throw badSpec(text, `the range [${start}:${end}] selects no samples`);
  return [start, end];
}

/** The canonical text of a spec: lower case, absolute bounds, no range when it is the whole split. */
export function formatSplitSpec(spec: SplitSpec, range?: [number, number], length?: number): string {
  if (!spec.split) return spec.dataset;
  const base = `${spec.dataset}:${spec.split}`;
  if (range) return range[0] === 0 && range[1] === length ? base : `${base}[${range[0]}:${range[1]}]`;
  if (spec.start === undefined && spec.end === undefined) return base;
  return `${base}[${spec.start ?? ''}:${spec.end ?? ''}]`;
}
