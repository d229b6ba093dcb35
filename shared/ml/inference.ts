// Inference: batch prediction of logits and probabilities, the exported .onnx student, and ONNX teachers.
import { writeFileAtomic } from '../util/atomic-write.ts';
import { type BoundedRead, readFileUpTo } from '../util/bounded-read.ts';
import { type Model } from './model.ts';
import { buildInferenceGraph } from './train-graph.ts';
import { type DeviceRequest, createSession, ort, resolveDevice } from './runtime.ts';
import { FedistillError, check } from '../util/errors.ts';
import { findExternalTensor, MalformedModelError } from './onnx-external-data.ts';

export interface Predictions { logits: Float32Array; probs: Float32Array; classes: number }

/** What a classifier's output must be; set for models fedistill did not build (external ONNX teachers). */
export interface OutputExpectation {
  /** The model file, named in errors. */
  model: string;
  /** Classes each output row must hold (the data's number of classes). */
  classes?: number;
  /** The batch size the model's input declares, when it is fixed: every run is fed that many rows. */
  fixedBatch?: number;
}

/**
 * Runs a classifier session over features in batches; `extra` are fixed feeds (weights as inputs).
 * The first output must be float32 with one row per sample, the same width in every batch; with
 * `expect`, that width must be `expect.classes`, and a mismatch is E_TEACHER_INVALID naming the model.
 */
export async function predictBatches(session: ort.InferenceSession, inputName: string, features: Float32Array, sampleShape: readonly number[], extra: Record<string, ort.Tensor> = {}, batch = 1024, expect?: OutputExpectation): Promise<Predictions> {
  const per = sampleShape.reduce((a, b) => a * b, 1);
  if (features.length % per !== 0) throw new FedistillError('E_SHAPE_MISMATCH', `features hold ${features.length} values, not a multiple of the input [${sampleShape}]`);
  const n = features.length / per;
  // A model declared with a fixed batch (often 1 in exported classifiers) runs every batch at that
  // size, the last one padded with zeros; only its real rows are kept.
  const fixed = expect?.fixedBatch;
  const size = fixed ?? batch;
  let logits: Float32Array | undefined, probs: Float32Array | undefined, classes = 0;
  for (let s = 0; s < n; s += size) {
    const e = Math.min(n, s + size);
    const rows = fixed ?? e - s;
    let data = features.subarray(s * per, e * per);
    if (rows > e - s) { const padded = new Float32Array(rows * per); padded.set(data); data = padded; }
    const x = new ort.Tensor('float32', data, [rows, ...sampleShape]);
    let out: ort.InferenceSession.ReturnType;
    try { out = await session.run({ ...extra, [inputName]: x }); } catch (err) {
      // A model fedistill built and fed is a bug to surface as is; a site's model that fails on the documented feed is invalid.
      if (!expect) throw err;
      throw new FedistillError('E_TEACHER_INVALID', `teacher ${expect.model} failed on a float32 batch [${rows}, ${sampleShape}]: ${String((err as Error).message).split('\n')[0]}`);
    }
    const all = outputRows(out[session.outputNames[0]!]!, session.outputNames[0]!, rows, s === 0 ? expect?.classes : classes, expect);
    classes = all.length / rows;
    const l = all.subarray(0, (e - s) * classes);
    logits ??= new Float32Array(n * classes);
    probs ??= new Float32Array(n * classes);
    logits.set(l, s * classes);
    const p = out.probs ? outputRows(out.probs, 'probs', rows, classes, expect).subarray(0, (e - s) * classes) : undefined;
    if (p) probs.set(p, s * classes);
    else probs.set(softmaxRows(l, classes), s * classes);
  }
  return { logits: logits ?? new Float32Array(0), probs: probs ?? new Float32Array(0), classes };
}

/**
 * The output's values, checked: float32 (a float64 or int64 output would be converted silently or
 * not at all), `rows` rows, and `classes` per row where that is known. Without `expect` a mismatch
 * is a bug in a graph fedistill built (E_SHAPE_MISMATCH); with it, a model the site brought (E_TEACHER_INVALID).
 */
function outputRows(t: ort.Tensor, name: string, rows: number, classes: number | undefined, expect?: OutputExpectation): Float32Array {
  const fail = (why: string): never => {
    if (!expect) throw new FedistillError('E_SHAPE_MISMATCH', `output '${name}' ${why}`);
    const shape = expect.classes !== undefined ? `[N, ${expect.classes}] (the data has ${expect.classes} classes)` : '[N, classes]';
    throw new FedistillError('E_TEACHER_INVALID', `teacher ${expect.model}: output '${name}' ${why}; a teacher must output float32 logits ${shape}`);
  };
  if (t.type !== 'float32' || !(t.data instanceof Float32Array)) fail(`is ${t.type}, expected float32`);
  const width = (t.data as Float32Array).length / rows;
  if (!Number.isInteger(width) || width < 1) fail(`holds ${(t.data as Float32Array).length} values for ${rows} samples, not a whole number of classes per sample`);
  if (classes !== undefined && width !== classes) fail(`has ${width} classes per sample, expected ${classes}`);
  // Values are not checked here: a NaN or infinite logit is a property of the teacher on these
  // samples (its private training data), so refusing the batch for it would answer the query,
  // uncharged, with a data-dependent error. The site's reply rows neutralise such rows instead
  // (client/reply-rows.ts), and padding rows of a fixed batch are no one's business.
  return t.data as Float32Array;
}

/** Row-wise softmax (for external classifiers that only output logits). */
export function softmaxRows(z: Float32Array, c: number): Float32Array {
  const out = new Float32Array(z.length);
  for (let r = 0; r < z.length; r += c) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, z[r + j]!);
    let s = 0;
    for (let j = 0; j < c; j++) s += out[r + j] = Math.exp(z[r + j]! - m);
    for (let j = 0; j < c; j++) out[r + j]! /= s;
  }
  return out;
}

/** Fraction of rows whose argmax equals the label. */
export function accuracyOf(logits: Float32Array, classes: number, labels: ArrayLike<number>): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (logits[i * classes + j]! > logits[i * classes + best]!) best = j;
    if (best === labels[i]) ok++;
  }
  return labels.length ? ok / labels.length : 0;
}

/**
 * Mean cross-entropy of logits against labels, as −log softmax from the logits (log-sum-exp in
 * double): the float32 probability of a confident wrong answer underflows to 0, and clipping it
 * would cap a sample's loss (at −log 1e-12 ≈ 27.6) where the training step's loss is not capped.
 */
export function meanCrossEntropy(logits: Float32Array, classes: number, labels: ArrayLike<number>): number {
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - m);
    loss += m + Math.log(sum) - row[labels[i]!]!;
  }
  return loss / labels.length;
}

/** The deployable student: a self-contained .onnx (input 'input' [N,...], outputs 'logits' and 'probs'). */
export function inferenceModelBytes(m: Model): Uint8Array {
  return buildInferenceGraph(m.layout, m.weights, m.buffers).toModel({ 'fedistill.spec': JSON.stringify(m.layout.spec) });
}

/** Writes the deployable .onnx (atomically; E_FILE_WRITE when the path cannot be written). */
export async function exportOnnx(m: Model, path: string): Promise<void> {
  await writeFileAtomic(path, inferenceModelBytes(m));
}

/** An inference-only classifier loaded from any ONNX file (a teacher brought by a site). */
export interface OnnxTeacher {
  readonly inputName: string;
  readonly sampleShape: readonly number[];
  predict(features: Float32Array): Promise<Predictions>;
  release(): Promise<void>;
}

/** Largest teacher model file read by default (1 GiB): the file is read whole into memory. */
export const TEACHER_MAX_BYTES = 2 ** 30;

/** What onnxruntime-node reports about a model input or output. */
interface ValueMetadata { name?: string; isTensor?: boolean; type?: string; shape?: readonly (number | string)[] }

export interface TeacherOptions {
  device?: DeviceRequest;
  threads?: number;
  /** Per-sample input shape; default: the one the model declares. */
  sampleShape?: number[];
  /** Classes each output row must hold (pass the data's number of classes). */
  classes?: number;
  /** Refuse larger files (default `TEACHER_MAX_BYTES`, 1 GiB). */
  maxBytes?: number;
}

/**
 * Loads an external ONNX classifier. A model that keeps any tensor's data in another file is refused
 * before onnxruntime reads it (onnx-external-data.ts: the file could be any file the site can read). Its one input is fed [N, ...sampleShape] float32 (at the
 * batch size it declares, when that is fixed); its first output is read as logits (probabilities
 * are computed by softmax unless a 'probs' output exists). What a model brought by a site can get
 * wrong is E_TEACHER_INVALID naming the file, found at load where the model declares it (a file
 * over `maxBytes`, more than one input, no output, a non-float32 input, an input shape
 * that does not take `sampleShape`, an op onnxruntime cannot run) and otherwise on every
 * prediction (a failed run; outputs not float32, not one row per sample, or not `classes` per
 * row when given). Non-finite logits are returned as they are: whether a teacher gives them
 * depends on its private training data, so they are the caller's to neutralise, never a failure.
 */
export async function loadOnnxTeacher(path: string, o: TeacherOptions = {}): Promise<OnnxTeacher> {
  const invalid = (why: string) => new FedistillError('E_TEACHER_INVALID', `teacher ${path} ${why}`);
  const maxBytes = o.maxBytes ?? TEACHER_MAX_BYTES;
  check(Number.isSafeInteger(maxBytes) && maxBytes > 0, 'maxBytes', `must be a positive integer, got ${maxBytes}`);
  if (o.sampleShape !== undefined) check(Array.isArray(o.sampleShape) && o.sampleShape.every((d) => Number.isSafeInteger(d) && d > 0), 'sampleShape', `must be a list of positive integers, got ${JSON.stringify(o.sampleShape)}`);
  // a regular file, opened non-blocking, its size checked before reading: a FIFO with no writer
  // would hang the site, a device (/dev/zero) be read until memory ran out
  let got: BoundedRead;
  try { got = readFileUpTo(path, maxBytes, { regularOnly: true }); } catch (e) {
    throw new FedistillError('E_TEACHER_NOT_FOUND', `cannot read teacher model ${path}: ${(e as Error).message}`);
  }
  if (!got.ok && got.why === 'not_a_file') throw new FedistillError('E_TEACHER_NOT_FOUND', `cannot read teacher model ${path}: not a regular file (a pipe, socket or device)`);
  if (!got.ok) throw invalid(`is ${got.size ?? `over ${maxBytes}`} bytes, over the limit of ${maxBytes} for a teacher model; pass maxBytes to allow a larger one`);
  const bytes: Uint8Array = got.bytes;
  // onnxruntime loads bytes with "ORTM" at offset 4 as an ORT-format model, which the check below does not read
  if (bytes.length >= 8 && new TextDecoder().decode(bytes.subarray(4, 8)) === 'ORTM') {
    throw invalid('is an ORT-format model (.ort); give the ONNX model (.onnx) it was converted from');
  }
  // Before onnxruntime sees it: an external tensor would be read from a file the model names (onnx-external-data.ts).
  let external: string | undefined;
  try { external = findExternalTensor(bytes); } catch (e) {
    if (!(e instanceof MalformedModelError)) throw e;
    throw new FedistillError('E_TEACHER_INVALID', `${path} is not a model onnxruntime can load: not a well-formed ONNX protobuf (${e.message})`);
  }
  if (external) throw invalid(`keeps a ${external}; a teacher model must carry all its data (save it without external data, e.g. onnx.save(model, path, save_as_external_data=False))`);
  const device = await resolveDevice(o.device ?? 'cpu');
  let session: ort.InferenceSession;
  try { session = await createSession(bytes, device, o.threads); } catch (e) {
    throw new FedistillError('E_TEACHER_INVALID', `${path} is not a model onnxruntime can load: ${String((e as Error).message).split('\n')[0]}`);
  }
  try {
    const { sampleShape, fixedBatch } = teacherInput(session, o.sampleShape, invalid);
    const inputName = session.inputNames[0]!;
    const expect: OutputExpectation = { model: path, ...(o.classes !== undefined ? { classes: o.classes } : {}), ...(fixedBatch !== undefined ? { fixedBatch } : {}) };
    return {
      inputName, sampleShape,
      // checked on every call: the teacher's answers go into votes and soft labels that leave the site
      predict: (features) => predictBatches(session, inputName, features, sampleShape, {}, 1024, expect),
      release: () => session.release(),
    };
  } catch (e) {
    await session.release();
    throw e;
  }
}

/**
 * The per-sample shape a teacher is fed and its fixed batch size, if it declares one; refuses a
 * model whose declared inputs and outputs cannot be a classifier of float32 samples.
 */
function teacherInput(session: ort.InferenceSession, given: number[] | undefined, invalid: (why: string) => FedistillError): { sampleShape: number[]; fixedBatch?: number } {
  const meta = session as unknown as { inputMetadata?: readonly ValueMetadata[] };
  if (session.inputNames.length !== 1) throw invalid(`takes ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); a teacher takes one float32 input [N, ...sample shape]`);
  if (session.outputNames.length === 0) throw invalid('has no outputs; a teacher outputs float32 logits [N, classes]');
  const input = meta.inputMetadata?.[0];
  if (input?.isTensor === false || (input?.type !== undefined && input.type !== 'float32')) {
    throw invalid(`input '${session.inputNames[0]}' is ${input?.isTensor === false ? 'not a tensor' : input?.type}; a teacher takes one float32 input [N, ...sample shape]`);
  }
  const shape = input?.shape;
  if (shape !== undefined && shape.length === 0) throw invalid(`input '${session.inputNames[0]}' is a scalar; a teacher takes [N, ...sample shape]`);
  const fixedBatch = typeof shape?.[0] === 'number' && shape[0] > 0 ? shape[0] : undefined;
  const declared = shape?.slice(1);
  if (given) {
    const fits = !declared || (declared.length === given.length && declared.every((d, i) => typeof d !== 'number' || d <= 0 || d === given[i]));
    if (!fits) throw invalid(`declares input [${shape!.join(', ')}], which does not take samples of shape [${given.join(', ')}]`);
    return { sampleShape: given, ...(fixedBatch !== undefined ? { fixedBatch } : {}) };
  }
  if (!declared || !declared.every((d) => typeof d === 'number' && d > 0)) throw invalid('does not declare a fixed per-sample input shape; pass sampleShape');
  return { sampleShape: declared as number[], ...(fixedBatch !== undefined ? { fixedBatch } : {}) };
}
