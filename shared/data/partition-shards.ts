// Shard partition (McMahan et al. 2017, FedAvg's "pathological non-IID"): sort by label, cut into shards, deal k per client.
import { SeededRng } from '../util/prng.ts';
import { check } from '../util/errors.ts';
import { type Partition, type PartitionInput, checkPartitionInput, finishClients, indicesByClass } from './partition-common.ts';

/** Parameters of the shard partition. */
export interface ShardParams {
  /** Shards per client (k), a positive integer; FedAvg used 2 (200 shards of 300 for 100 clients). */
  readonly shards: number;
}

/**
 * Orders samples by label (ties by index), cuts them into clients·k contiguous shards whose
 * sizes differ by at most one, and deals a seeded permutation of the shards, k per client.
 * With k = 2 most clients see only two classes.
 */
export function shardPartition(input: PartitionInput & ShardParams): Partition {
  checkPartitionInput(input);
  const { labels, numClasses, clients, seed, shards } = input;
  check(Number.isInteger(shards) && shards >= 1, 'shards', `shards per client must be a positive integer, got ${shards}`);
  const total = clients * shards;
  check(total <= labels.length, 'shards', `${clients} clients × ${shards} shards = ${total} shards but only ${labels.length} samples; every shard needs at least one`);

  const sorted = new Uint32Array(labels.length);
  let at = 0;
  for (const members of indicesByClass(labels, numClasses)) { sorted.set(members, at); at += members.length; }

  const base = Math.floor(labels.length / total);
  const extra = labels.length % total;
  const shardStart = (s: number): number => s * base + Math.min(s, extra);
  const order = new SeededRng(seed).permutation(total);
  const lists: number[][] = [];
  for (let c = 0; c < clients; c++) {
    const list: number[] = [];
    for (let j = 0; j < shards; j++) {
      const s = order[c * shards + j]!;
      for (let i = shardStart(s); i < shardStart(s + 1); i++) list.push(sorted[i]!);
    }
    lists.push(list);
  }
  return { scheme: 'shards', params: { shards }, seed, clients: finishClients(lists, labels, numClasses) };
}
