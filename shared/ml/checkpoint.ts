// Checkpoints: weights, optimizer state, buffers, step and epoch in one file, so a resumed run matches an uninterrupted one.
import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { type BoundedRead, readFileUpTo } from '../util/bounded-read.ts';
import { FedistillError } from '../util/errors.ts';
import type { Trainer } from './trainer.ts';
import type { EpochPosition } from './trainer-types.ts';

const MAGIC = 'FDCK1\n';

/**
 * Largest checkpoint read (2 GiB − 2 bytes), checked from its size before a byte is read. A
 * checkpoint is read whole; Node's fs.readFile, which read checkpoints before, stopped at 2 GiB − 1
 * bytes (ERR_FS_FILE_TOO_LARGE), so every checkpoint that could be resumed before still can. That
 * is the weights and Adam state (3 float32 per parameter) of a model of about 178 million
 * parameters; the largest `fedistill train` writes is 6.4 MB (mlp, Adam, 28×28 inputs).
 */
export const MAX_CHECKPOINT_BYTES = 2 ** 31 - 2;

interface Header {
  version: 1;
  step: number;
  epoch: number;
  /** Steps since the optimizer state was last reset (Adam's t); absent in older checkpoints: `step`. */
  optimizerStep?: number;
  spec: unknown;
  optimizer: unknown;
  tensors: { name: string; dims: number[]; length: number }[];
  /** SHA-256 (hex) of the tensor data: a flipped byte is refused, not trained on. Absent in older checkpoints. */
  sha256?: string;
  /** The options that shape the rest of the run (absent in older checkpoints): resuming with others is reported. */
  training?: TrainingOptions;
  /** Where epoch `epoch` was stopped, for a checkpoint taken in the middle of it (absent: at its start). */
  position?: EpochPosition;
}

/**
 * What, besides model and optimizer, a resumed run must share with the first to give its result:
 * the steps per run too (the learning rate is held for a run's K steps), and the training data as
 * the caller names it (`data`, e.g. fedistill train's `mnist:train[:5000]`), where it does.
 */
interface TrainingOptions { lr: number; batchSize: number; seed: number; schedule: unknown; stepsPerRun?: number; data?: string }

async function trainingOptions(t: Trainer, data: string | undefined): Promise<TrainingOptions> {
  return { lr: t.lr, batchSize: t.batchSize, seed: t.seed, schedule: t.schedule, stepsPerRun: await t.stepsPerRun(), ...(data === undefined ? {} : { data }) };
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Whether a header's position is one a trainer can go on from: batch inside its epoch, finite sums, no more correct than seen. */
function validPosition(p: EpochPosition): boolean {
  if (!(isCount(p?.batch) && isCount(p.samples) && isCount(p.batchSize) && p.batchSize > 0 && p.batch > 0 && p.batch < Math.ceil(p.samples / p.batchSize))) return false;
  const graph = p.graphSums ?? [0, 0];
  return Array.isArray(graph) && graph.length === 2 && Number.isFinite(p.lossSum) && Number.isFinite(graph[0])
    && isCount(p.correct) && isCount(graph[1]) && p.correct + graph[1] <= p.batch * p.batchSize;
}

/**
 * Writes the trainer's full state: `MAGIC`, a u32 header length, a JSON header, then float32 data
 * (atomically). Between epochs, or in the middle of one where a fit stopped (`Trainer.position`):
 * resuming goes on from the next batch. `data` names the training data, so that resuming on other
 * data is reported.
 */
export async function saveCheckpoint(t: Trainer, path: string, data?: string): Promise<void> {
  const entries = t.stateEntries();
  const bytes = entries.map(([, v]) => { const d = v.data as Float32Array; return new Uint8Array(d.buffer, d.byteOffset, d.byteLength); });
  const hash = createHash('sha256');
  for (const d of bytes) hash.update(d);
  const header: Header = {
    version: 1, step: t.step, optimizerStep: t.optimizerStep, epoch: t.epoch, spec: t.model.layout.spec, optimizer: t.optimizer,
    tensors: entries.map(([name, v]) => ({ name, dims: [...v.dims], length: v.size })),
    sha256: hash.digest('hex'), training: await trainingOptions(t, data), ...(t.position ? { position: t.position } : {}),
  };
  const json = Buffer.from(JSON.stringify(header));
  await writeFileAtomic(path, Buffer.concat([Buffer.from(MAGIC), new Uint8Array(new Uint32Array([json.length]).buffer), json, ...bytes]));
}

/** A short description of a model spec for mismatch messages: input, classes and layers (dense512-relu-…). */
function specSummary(spec: unknown): string {
  const s = spec as { input?: unknown; classes?: unknown; layers?: { type?: unknown; units?: unknown; filters?: unknown }[] } | null;
  const layers = Array.isArray(s?.layers) ? s.layers.map((l) => `${String(l?.type)}${String(l?.units ?? l?.filters ?? '')}`).join('-') : '?';
  return `input ${JSON.stringify(s?.input)}, ${String(s?.classes)} classes, ${layers}`;
}

/**
 * Restores a checkpoint into a trainer built for the same model and optimizer. Returns how the
 * trainer's other options (learning rate, batch size, seed, schedule, steps per run, and the
 * training data where both name it) differ from those the checkpoint was written with, one line
 * each: resuming still works, but its result is not the uninterrupted run's, so the caller should
 * say so. (A checkpoint taken mid-epoch goes on only with the same batch size and number of
 * samples: the next fit refuses others.)
 */
export async function loadCheckpoint(t: Trainer, path: string, data?: string): Promise<string[]> {
  // A regular file only, opened non-blocking: a FIFO with no writer would hang the command for ever
  // and a device (/dev/zero) be read until memory ran out. Both, and a file over the limit, are
  // refused at once as a checkpoint that cannot be read.
  const unreadable = (why: string) => new FedistillError('E_CHECKPOINT_NOT_FOUND', `cannot read checkpoint ${path}: ${why}; give a file written by saveCheckpoint (fedistill train --checkpoint), or start without resuming`);
  let got: BoundedRead;
  try { got = readFileUpTo(path, MAX_CHECKPOINT_BYTES, { regularOnly: true }); } catch (e) {
    throw unreadable((e as Error).message);
  }
  if (!got.ok && got.why === 'not_a_file') throw unreadable('not a regular file (a pipe, socket or device)');
  if (!got.ok) throw unreadable(`it is ${got.size !== undefined ? `${got.size} bytes` : `over ${MAX_CHECKPOINT_BYTES} bytes`}, more than the ${MAX_CHECKPOINT_BYTES} a checkpoint may hold (it was not read)`);
  const buf = got.bytes;
  const invalid = (why: string) => new FedistillError('E_CHECKPOINT_INVALID', `${path} is not a usable fedistill checkpoint: ${why}`);
  if (buf.length < MAGIC.length + 4 || buf.subarray(0, MAGIC.length).toString() !== MAGIC) throw invalid('it does not start with the checkpoint header');
  const len = buf.readUInt32LE(MAGIC.length);
  if (MAGIC.length + 4 + len > buf.length) throw invalid('the file is truncated');
  let header: Header;
  try { header = JSON.parse(buf.subarray(MAGIC.length + 4, MAGIC.length + 4 + len).toString()) as Header; } catch { throw invalid('its header is not valid JSON'); }
  const tensorsOk = Array.isArray(header?.tensors) && header.tensors.every((e) => typeof e?.name === 'string' && Number.isSafeInteger(e.length) && e.length >= 0 && Array.isArray(e.dims));
  if (!tensorsOk || !Number.isSafeInteger(header.step) || !Number.isSafeInteger(header.epoch)) throw invalid('its header lacks step, epoch or tensor entries');
  if (header.optimizerStep !== undefined && !isCount(header.optimizerStep)) throw invalid(`its optimizer step ${JSON.stringify(header.optimizerStep)} is not a count`);
  if (header.position !== undefined && !validPosition(header.position)) throw invalid(`its mid-epoch position ${JSON.stringify(header.position)} is not a batch inside an epoch with finite running sums (null: the loss was not finite when it was saved)`);
  const expected = MAGIC.length + 4 + len + header.tensors.reduce((a, e) => a + e.length * 4, 0);
  if (buf.length !== expected) throw invalid(`it holds ${buf.length} bytes, its header describes ${expected} (truncated or altered)`);
  if (JSON.stringify(header.spec) !== JSON.stringify(t.model.layout.spec)) {
    throw new FedistillError('E_CHECKPOINT_MISMATCH', `checkpoint ${path} was written for a different model spec (${specSummary(header.spec)}, not ${specSummary(t.model.layout.spec)}); resume with the model it was trained with (fedistill train: the same --model and --dataset)`);
  }
  // {kind: 'adamw'} without weightDecay trained with no decay before it came to mean 0.01: an older
  // checkpoint's config says what it trained with, spelt out
  const saved = header.optimizer as { kind?: unknown; weightDecay?: unknown } | null;
  const written = saved?.kind === 'adamw' && saved.weightDecay === undefined ? { ...saved, weightDecay: 0 } : saved;
  if (JSON.stringify(written) !== JSON.stringify(t.optimizer)) {
    throw new FedistillError('E_CHECKPOINT_MISMATCH', `checkpoint ${path} was written with optimizer ${JSON.stringify(written)}, not ${JSON.stringify(t.optimizer)}; resume with the optimizer it was trained with (fedistill train: the same --optimizer)`);
  }
  let off = MAGIC.length + 4 + len;
  if (header.sha256 !== undefined && createHash('sha256').update(buf.subarray(off)).digest('hex') !== header.sha256) {
    throw invalid('its data does not match the checksum in its header (corrupted or altered); resume from an intact copy');
  }
  const map = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const e of header.tensors) {
    const data = new Float32Array(e.length);
    new Uint8Array(data.buffer).set(buf.subarray(off, off + e.length * 4));
    off += e.length * 4;
    map.set(e.name, { dims: e.dims, data });
  }
  t.restoreState(map);
  t.step = header.step;
  t.optimizerStep = header.optimizerStep ?? header.step;
  t.epoch = header.epoch;
  t.position = header.position;
  if (!header.training) return [];
  const now = await trainingOptions(t, data);
  // Only what both record is compared: older checkpoints lack stepsPerRun, and data is the caller's.
  return (Object.keys(now) as (keyof TrainingOptions)[])
    .filter((k) => header.training![k] !== undefined && JSON.stringify(header.training![k]) !== JSON.stringify(now[k]))
    .map((k) => `${k}: ${JSON.stringify(header.training![k])} in the checkpoint, ${JSON.stringify(now[k])} now`);
}
