// A bounded work pool: runs async jobs with at most `limit` in flight (site training shares the machine's cores).
import { availableParallelism } from 'node:os';

/** Jobs in flight by default: one per core (ONNX Runtime runs each job's kernels off the event loop). */
export function defaultConcurrency(): number {
  return Math.max(1, availableParallelism());
}

/** Maps `items` through `fn` with at most `limit` calls pending, started in order; results keep the input order. */
export function mapPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const turn = turns(limit);
  return Promise.all(items.map((item, i) => turn(() => fn(item, i))));
}

/** Runs the jobs given to it at most `limit` at a time, in the order they came. */
export type Turns = <T>(job: () => Promise<T>) => Promise<T>;

/** A FIFO limit on jobs in flight (at least 1), for work that comes one job at a time (unlike mapPool's list). */
export function turns(limit: number): Turns {
  const max = Math.max(1, limit);
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (running >= max) await new Promise<void>((go) => waiting.push(go));
    else running++;
    try {
      return await job();
    } finally {
      // hands the slot straight to the next job in line (running stays the same), or frees it
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
