// Partitioning by scheme name, and the summary figures used to compare partitions (size spread, label skew).
import { UsageError } from '../util/errors.ts';
import { dirichletPartition } from './partition-dirichlet.ts';
import { iidPartition } from './partition-iid.ts';
import { quantityPartition } from './partition-quantity.ts';
import { shardPartition } from './partition-shards.ts';
import { PARTITION_SCHEMES, type Partition, type PartitionInput, type PartitionScheme } from './partition-common.ts';

export * from './partition-common.ts';
export { dirichletPartition, iidPartition, quantityPartition, shardPartition };

/** Scheme parameters by name; each scheme reads only its own (alpha; shards; sigma; minSize). */
export interface PartitionOptions {
  readonly alpha?: number;
  readonly shards?: number;
  readonly sigma?: number;
  readonly minSize?: number;
  /**
   * What an infeasible Dirichlet partition (E_PARTITION_INFEASIBLE) should advise, in the caller's
   * own settings (a scenario has no minimum size to lower); default: `fedistill data partition`'s.
   */
  readonly infeasibleAdvice?: string;
}

/** Defaults used when a scheme's parameter is not given (also the CLI's defaults). */
export const PARTITION_DEFAULTS = { alpha: 0.5, shards: 2, sigma: 1 } as const;

/** Runs the named scheme: the one entry point configs and the CLI use. */
export function partitionLabels(scheme: string, input: PartitionInput, options: PartitionOptions = {}): Partition {
  switch (scheme as PartitionScheme) {
    case 'iid':
      return iidPartition(input);
    case 'dirichlet':
      return dirichletPartition({ ...input, alpha: options.alpha ?? PARTITION_DEFAULTS.alpha, minSize: options.minSize, infeasibleAdvice: options.infeasibleAdvice });
    case 'shards':
      return shardPartition({ ...input, shards: options.shards ?? PARTITION_DEFAULTS.shards });
    case 'quantity':
      return quantityPartition({ ...input, sigma: options.sigma ?? PARTITION_DEFAULTS.sigma, minSize: options.minSize });
    default:
      throw new UsageError(`unknown partition scheme "${scheme}"; available: ${PARTITION_SCHEMES.join(', ')}`, 'E_UNKNOWN_SCHEME');
  }
}

/** Figures that say how skewed a partition is, for tables, --json and tests. */
export interface PartitionSummary {
  readonly clients: number;
  /** Samples assigned to some client. */
  readonly assigned: number;
  readonly sizes: { readonly min: number; readonly max: number; readonly mean: number; readonly std: number };
  /** Mean over clients of (largest class count / client size): 1/numClasses when balanced, 1 when single-class. */
  readonly meanLargestClassShare: number;
  /** Mean number of classes a client holds at least one sample of. */
  readonly meanClassesPresent: number;
}

/** Summarises a partition's sizes and label skew. */
export function summarizePartition(p: Partition): PartitionSummary {
  const sizes = p.clients.map((c) => c.indices.length);
  const assigned = sizes.reduce((a, b) => a + b, 0);
  const mean = assigned / sizes.length;
  const std = Math.sqrt(sizes.reduce((a, s) => a + (s - mean) ** 2, 0) / sizes.length);
  let share = 0;
  let present = 0;
  for (const c of p.clients) {
    share += c.indices.length ? Math.max(...c.labelCounts) / c.indices.length : 0;
    present += c.labelCounts.filter((n) => n > 0).length;
  }
  return {
    clients: sizes.length,
    assigned,
    sizes: { min: Math.min(...sizes), max: Math.max(...sizes), mean: round(mean), std: round(std) },
    meanLargestClassShare: round(share / sizes.length),
    meanClassesPresent: round(present / sizes.length),
  };
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
