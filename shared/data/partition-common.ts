// Types and shared checks for partitioners: how a labelled dataset is split over clients (sites).
import { check } from '../util/errors.ts';

/** One client's share: sorted indices into the partitioned dataset, and its per-class counts. */
export interface ClientPartition {
  readonly indices: Uint32Array;
  readonly labelCounts: number[];
}

/** A partition: the scheme and resolved parameters that, with the seed, reproduce it exactly. */
export interface Partition {
  readonly scheme: PartitionScheme;
  readonly params: Readonly<Record<string, number>>;
  readonly seed: number;
  readonly clients: readonly ClientPartition[];
}

export const PARTITION_SCHEMES = ['iid', 'dirichlet', 'shards', 'quantity'] as const;
export type PartitionScheme = (typeof PARTITION_SCHEMES)[number];

/** The parameters each scheme reads besides `seed` (shared/data/partition.ts). */
export const PARTITION_PARAMS: Readonly<Record<PartitionScheme, readonly string[]>> = {
  iid: [], dirichlet: ['alpha'], shards: ['shards'], quantity: ['sigma'],
};

/**
 * Why `key` is not a parameter of `scheme`, saying which schemes take it, or undefined when it is:
 * a config key the chosen scheme does not read would otherwise be ignored silently.
 */
export function unusedPartitionParam(scheme: PartitionScheme, key: string): string | undefined {
  const takes = PARTITION_PARAMS[scheme];
  if (key === 'seed' || takes.includes(key)) return undefined;
  const users = PARTITION_SCHEMES.filter((x) => PARTITION_PARAMS[x].includes(key));
  return `is not used by scheme ${scheme} (${scheme} takes ${takes.length ? takes.join(', ') : 'no parameters'}; ${users.join(', ')} takes ${key}): ` +
    `remove it, or set scheme: ${users.join(' or ')}`;
}

/** What every partitioner takes. */
export interface PartitionInput {
  /** One label per sample, each < numClasses. */
  readonly labels: Uint8Array;
  readonly numClasses: number;
  readonly clients: number;
  /** A non-negative integer; the same seed gives the same partition on every platform. */
  readonly seed: number;
}

/** Checks the inputs every scheme shares; throws UsageError naming the parameter. */
export function checkPartitionInput(input: PartitionInput): void {
  const { labels, numClasses, clients, seed } = input;
  check(Number.isInteger(numClasses) && numClasses >= 1 && numClasses <= 256, 'numClasses', `must be an integer in 1..256, got ${numClasses}`);
  check(Number.isInteger(clients) && clients >= 1, 'clients', `must be a positive integer, got ${clients}`);
  check(clients <= labels.length, 'clients', `${clients} clients but only ${labels.length} samples; every client needs at least one`);
  check(Number.isSafeInteger(seed) && seed >= 0, 'seed', `must be a non-negative integer, got ${seed}`);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= numClasses) check(false, 'labels', `label ${labels[i]} at index ${i} is not below numClasses ${numClasses}`);
  }
}

/**
 * The minimum client size used when none is given: 10, or half the mean client size when
 * the dataset is too small for that, and at least 1.
 */
export function defaultMinSize(samples: number, clients: number): number {
  return Math.max(1, Math.min(10, Math.floor(samples / (2 * clients))));
}

/** Checks a minimum client size against the data. */
export function checkMinSize(minSize: number, samples: number, clients: number): void {
  check(Number.isInteger(minSize) && minSize >= 1, 'minSize', `must be a positive integer, got ${minSize}`);
  check(minSize * clients <= samples, 'minSize', `${clients} clients × ${minSize} samples exceeds the ${samples} samples; lower it or use fewer clients`);
}

/** Turns per-client index lists into sorted index arrays with label counts. */
export function finishClients(lists: ArrayLike<number>[], labels: Uint8Array, numClasses: number): ClientPartition[] {
  return lists.map((list) => {
    const indices = Uint32Array.from(list).sort();
    const labelCounts = new Array<number>(numClasses).fill(0);
    for (let i = 0; i < indices.length; i++) labelCounts[labels[indices[i]!]!]!++;
    return { indices, labelCounts };
  });
}

/** Sample indices grouped by label, each group in ascending index order. */
export function indicesByClass(labels: Uint8Array, numClasses: number): Uint32Array[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  const out = counts.map((n) => new Uint32Array(n));
  const fill = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    out[c]![fill[c]!++] = i;
  }
  return out;
}
