// Dirichlet(alpha) label-skew partition (Hsu et al. 2019), the usual non-IID benchmark: small alpha, few classes per client.
import { SeededRng } from '../util/prng.ts';
import { UsageError, check } from '../util/errors.ts';
import {
  type Partition, type PartitionInput, checkMinSize, checkPartitionInput, defaultMinSize, finishClients, indicesByClass,
} from './partition-common.ts';

/** Parameters of the Dirichlet partition. */
export interface DirichletParams {
  /** Concentration, > 0: 0.1 is strongly skewed, 100 is close to IID. */
  readonly alpha: number;
  /** Every client gets at least this many samples; draws are repeated until it holds. Default: defaultMinSize. */
  readonly minSize?: number;
  /** What E_PARTITION_INFEASIBLE advises, in the caller's own settings (a scenario has no minimum size to lower). */
  readonly infeasibleAdvice?: string;
}

/** How many whole draws are tried before giving up on the minimum size. */
const DIRICHLET_MAX_ATTEMPTS = 1000;

/**
 * Per class k: shuffle class k's samples, draw proportions p ~ Dir(alpha·1) over the clients,
 * and cut the shuffled list at round(cumsum(p)·n_k). If some client ends with fewer than
 * minSize samples the whole draw is repeated (as in NIID-Bench and Flower's
 * DirichletPartitioner without self-balancing), up to DIRICHLET_MAX_ATTEMPTS times.
 */
export function dirichletPartition(input: PartitionInput & DirichletParams): Partition {
  checkPartitionInput(input);
  const { labels, numClasses, clients, seed, alpha } = input;
  check(Number.isFinite(alpha) && alpha > 0, 'alpha', `the Dirichlet concentration must be a finite number > 0, got ${alpha}`);
  const minSize = input.minSize ?? defaultMinSize(labels.length, clients);
  checkMinSize(minSize, labels.length, clients);

  const rng = new SeededRng(seed);
  const byClass = indicesByClass(labels, numClasses).map((idx) => rng.shuffle(idx));
  const cuts = new Int32Array(clients + 1);
  for (let attempt = 1; attempt <= DIRICHLET_MAX_ATTEMPTS; attempt++) {
    const lists: number[][] = Array.from({ length: clients }, () => []);
    for (const members of byClass) {
      const n = members.length;
      if (n === 0) continue;
      const p = rng.dirichlet(alpha, clients);
      let cum = 0;
      cuts[0] = 0;
      for (let c = 0; c < clients - 1; c++) {
        cum += p[c]!;
        cuts[c + 1] = Math.min(n, Math.round(cum * n));
      }
      cuts[clients] = n;
      for (let c = 0; c < clients; c++) {
        for (let i = cuts[c]!; i < cuts[c + 1]!; i++) lists[c]!.push(members[i]!);
      }
    }
    if (lists.every((l) => l.length >= minSize)) {
      return { scheme: 'dirichlet', params: { alpha, minSize }, seed, clients: finishClients(lists, labels, numClasses) };
    }
  }
  throw new UsageError(
    `no Dirichlet(alpha=${alpha}) draw in ${DIRICHLET_MAX_ATTEMPTS} attempts gave all ${clients} clients at least ${minSize} samples; ${input.infeasibleAdvice ?? 'raise alpha, use fewer clients or lower the minimum size (--min-size)'}`,
    'E_PARTITION_INFEASIBLE',
  );
}
