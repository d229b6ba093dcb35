// Inference: batch prediction of logits and probabilities, the exported .onnx student, and ONNX teachers.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { type Model } from './model.ts';
import { buildInferenceGraph } from './train-graph.ts';
import { type DeviceRequest, createSession, ort, resolveDevice } from './runtime.ts';
import { FedistillError } from '../util/errors.ts';

export interface Predictions { logits: Float32Array; probs: Float32Array; classes: number }

/** What a classifier's output must be; set for models fedistill did not build (external ONNX teachers). */
export interface OutputExpectation {
  /** The model file, named in errors. */
  model: string;
  /** Classes each output row must hold (the data's number of classes). */
  classes?: number;
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
  let logits: Float32Array | undefined, probs: Float32Array | undefined, classes = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const x = new ort.Tensor('float32', features.subarray(s * per, e * per), [e - s, ...sampleShape]);
    const out = await session.run({ ...extra, [inputName]: x });
    const l = outputRows(out[session.outputNames[0]!]!, session.outputNames[0]!, e - s, s === 0 ? expect?.classes : classes, expect);
    classes = l.length / (e - s);
    logits ??= new Float32Array(n * classes);
    probs ??= new Float32Array(n * classes);
    logits.set(l, s * classes);
    const p = out.probs ? outputRows(out.probs, 'probs', e - s, classes, expect) : undefined;
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

/**
 * Loads an external ONNX classifier. Its first input is fed [N, ...sampleShape] float32; its
 * first output is read as logits (probabilities are computed by softmax unless a 'probs' output exists).
 * Its outputs are checked on every prediction: float32, one row per sample, and `classes` per row
 * when given (pass the data's number of classes): otherwise E_TEACHER_INVALID naming the file.
 */
export async function loadOnnxTeacher(path: string, o: { device?: DeviceRequest; threads?: number; sampleShape?: number[]; classes?: number } = {}): Promise<OnnxTeacher> {
  let bytes: Uint8Array;
  try { bytes = await readFile(path); } catch (e) {
    throw new FedistillError('E_TEACHER_NOT_FOUND', `cannot read teacher model ${path}: ${(e as Error).message}`);
  }
  const device = await resolveDevice(o.device ?? 'cpu');
  let session: ort.InferenceSession;
  try { session = await createSession(bytes, device, o.threads); } catch (e) {
    throw new FedistillError('E_TEACHER_INVALID', `${path} is not a model onnxruntime can load: ${String((e as Error).message).split('\n')[0]}`);
  }
  const inputName = session.inputNames[0]!;
  const meta = (session as unknown as { inputMetadata?: { shape?: (number | string)[] }[] }).inputMetadata?.[0];
  const declared = meta?.shape?.slice(1);
  const sampleShape = o.sampleShape ?? (declared && declared.every((d) => typeof d === 'number' && d > 0) ? (declared as number[]) : undefined);
  if (!sampleShape) throw new FedistillError('E_TEACHER_INVALID', `teacher ${path} does not declare a fixed per-sample input shape; pass sampleShape`);
  return {
    inputName, sampleShape,
    // checked on every call: the teacher's answers go into votes and soft labels that leave the site
    predict: (features) => predictBatches(session, inputName, features, sampleShape, {}, 1024, { model: path, ...(o.classes !== undefined ? { classes: o.classes } : {}) }),
    release: () => session.release(),
  };
}
