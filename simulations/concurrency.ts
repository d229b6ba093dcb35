// A bounded work pool: runs async jobs with at most `limit` in flight (site training shares the machine's cores).
import { availableParallelism } from 'node:os';

/** Jobs in flight by default: one per core (ONNX Runtime runs each job's kernels off the event loop). */
export function defaultConcurrency(): number {
  return Math.max(1, availableParallelism());
}

/** Maps `items` through `fn` with at most `limit` calls pending; results keep the input order. */
export async function mapPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return out;
}
