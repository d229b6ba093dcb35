// Worker-thread entry: trains the teachers named in workerData and posts each one's outcome back.
import { parentPort, workerData } from 'node:worker_threads';
import { type TeacherJob, trainTeachers } from './teacher-training.ts';

const job = workerData as TeacherJob;
trainTeachers(job, (o) => parentPort!.postMessage({ kind: 'teacher', outcome: o }))
  .then(() => parentPort!.postMessage({ kind: 'done' }))
  .catch((e: unknown) => parentPort!.postMessage({ kind: 'error', message: e instanceof Error ? `${e.message}` : String(e) }));
