// IID partition: a seeded shuffle cut into near-equal parts, the baseline every non-IID scheme is compared with.
import { SeededRng } from '../util/prng.ts';
import { type Partition, type PartitionInput, checkPartitionInput, finishClients } from './partition-common.ts';

/**
 * Shuffles all samples and gives client i the i-th of `clients` contiguous parts; part sizes
 * differ by at most one (the first n mod clients parts get the extra sample).
 */
export function iidPartition(input: PartitionInput): Partition {
  checkPartitionInput(input);
  const { labels, numClasses, clients, seed } = input;
  const perm = new SeededRng(seed).permutation(labels.length);
  const base = Math.floor(labels.length / clients);
  const extra = labels.length % clients;
  const lists: Uint32Array[] = [];
  let at = 0;
  for (let c = 0; c < clients; c++) {
    const size = base + (c < extra ? 1 : 0);
    lists.push(perm.subarray(at, at + size));
    at += size;
  }
  return { scheme: 'iid', params: {}, seed, clients: finishClients(lists, labels, numClasses) };
}
