// Teacher vote histograms for the queries: trained in parallel worker threads, cached in the output folder.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FedistillError } from '../../shared/util/errors.ts';
import { canonicalJson } from '../../shared/audit/canonical-json.ts';
import { startWorker } from '../worker-boot.ts';
import { type TeacherJob, type TeacherOutcome, trainTeachers } from './teacher-training.ts';

const VOTES_CACHE_FILE = 'teacher-votes.json';

/** The teachers' votes on each query (counts per class) and their individual accuracies. */
export interface TeacherVotes {
  /** One histogram of `classes` counts per query, summing to the number of teachers. */
  votes: number[][];
  teacherAccuracy: number[];
  shardSizes: number[];
  seconds: number;
  fromCache: boolean;
}

interface CacheFile { version: 1; key: Omit<TeacherJob, 'which'>; votes: number[][]; teacher_accuracy: number[]; shard_sizes: number[]; seconds: number }

function runWorker(job: TeacherJob, onTeacher: (o: TeacherOutcome) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = startWorker(new URL('./teacher-worker.ts', import.meta.url), { workerData: job });
    w.on('message', (m: { kind: string; outcome?: TeacherOutcome; message?: string }) => {
      if (m.kind === 'teacher') onTeacher({ ...m.outcome!, predictions: new Uint8Array(m.outcome!.predictions) });
      else if (m.kind === 'done') void w.terminate().then(() => resolve());
      else if (m.kind === 'error') { void w.terminate(); reject(new FedistillError('E_TEACHER_TRAINING', `teacher worker failed: ${m.message}`)); }
    });
    w.on('error', (e) => reject(new FedistillError('E_TEACHER_TRAINING', `teacher worker crashed: ${e.message}`)));
  });
}

function readCache(path: string, key: CacheFile['key']): CacheFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
    // canonical JSON: the cache key does not depend on property order (or on undefined fields JSON drops)
    return c.version === 1 && canonicalJson(c.key) === canonicalJson(key) ? c : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Trains every teacher (in `workers` threads, one teacher at a time per thread) and counts the
 * votes per query. With `outDir`, the votes are cached there under the job's full description
 * (data, seed, model, training settings, query indices), so a rerun with the same teachers skips
 * training and only redoes the aggregation and the student.
 */
export async function teacherVotes(
  base: Omit<TeacherJob, 'which'>, workers: number, outDir: string | undefined, log: (line: string) => void,
): Promise<TeacherVotes> {
  const cachePath = outDir ? join(outDir, VOTES_CACHE_FILE) : undefined;
  const cached = cachePath ? readCache(cachePath, base) : undefined;
  if (cached) {
    log(`teachers: ${base.teachers} votes read from ${cachePath}`);
    return { votes: cached.votes, teacherAccuracy: cached.teacher_accuracy, shardSizes: cached.shard_sizes, seconds: cached.seconds, fromCache: true };
  }
  const t0 = performance.now();
  const nq = base.queryIndices.length;
  const votes = Array.from({ length: nq }, () => new Array<number>(10).fill(0));
  const accuracy = new Array<number>(base.teachers).fill(NaN);
  const sizes = new Array<number>(base.teachers).fill(0);
  let done = 0;
  const onTeacher = (o: TeacherOutcome): void => {
    for (let q = 0; q < nq; q++) votes[q]![o.predictions[q]!]!++;
    accuracy[o.teacher] = o.evalAccuracy;
    sizes[o.teacher] = o.shardSize;
    done++;
    if (done % Math.max(1, Math.round(base.teachers / 25)) === 0 || done === base.teachers) {
      const s = (performance.now() - t0) / 1000;
      const mean = accuracy.filter((a) => !Number.isNaN(a)).reduce((a, b) => a + b, 0) / done;
      log(`teachers: ${done}/${base.teachers} trained, mean eval accuracy ${(100 * mean).toFixed(1)}%, ${s.toFixed(0)} s, ~${((base.teachers - done) * s / done).toFixed(0)} s left`);
    }
  };
  const all = Array.from({ length: base.teachers }, (_, i) => i);
  const n = Math.min(workers, base.teachers);
  if (n <= 1) await trainTeachers({ ...base, which: all }, onTeacher);
  else await Promise.all(Array.from({ length: n }, (_, w) => runWorker({ ...base, which: all.filter((t) => t % n === w) }, onTeacher)));
  const seconds = (performance.now() - t0) / 1000;
  if (cachePath && outDir) {
    mkdirSync(outDir, { recursive: true });
    const file: CacheFile = { version: 1, key: base, votes, teacher_accuracy: accuracy, shard_sizes: sizes, seconds };
    writeFileSync(`${cachePath}.tmp`, JSON.stringify(file));
    renameSync(`${cachePath}.tmp`, cachePath);
  }
  return { votes, teacherAccuracy: accuracy, shardSizes: sizes, seconds, fromCache: false };
}
