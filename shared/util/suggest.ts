// "Did you mean" hints: edit distance and unique prefixes over known names (commands, flags, datasets).

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/**
 * The candidate a user most likely meant, or undefined: the nearest name within a small
 * edit distance (typos such as "partiton"), else the only name the word is a prefix of
 * ("sim" → "simulate"). Two names equally near give no hint: a wrong guess misleads more
 * than none.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  let tied = false;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) { best = c; bestD = d; tied = false; } else if (d === bestD && best !== undefined) tied = true;
  }
  if (best !== undefined) return tied ? undefined : best;
  if (word.length < 2) return undefined;
  const prefixed = candidates.filter((c) => c.startsWith(word));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** " (did you mean X?)" with `prefix` before the name (e.g. "--"), or "" when nothing is close. */
export function didYouMean(word: string, candidates: readonly string[], prefix = ''): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean ${prefix}${c}?)`;
}
