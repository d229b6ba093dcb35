// A binary cache of decoded 8-bit images, so slow sources (150 MB of JSON) are parsed once per machine.
//
// Layout (little-endian), version 1:
//   0  8 bytes  magic "FDSTIMG1"
//   8  u32      count        12 u32 height      16 u32 width     20 u32 reserved (0)
//   24 32 bytes SHA-256 fingerprint of the source files (names, sizes, mtimes)
//   56 32 bytes SHA-256 of the payload (pixels then labels)
//   88 payload: count×height×width pixel bytes, then count label bytes
// A cache whose magic, sizes, fingerprint or payload hash disagree is ignored and rebuilt.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RawImages } from './raw-images.ts';

const MAGIC = Buffer.from('FDSTIMG1', 'ascii');
const HEADER_BYTES = 88;

/** The outcome of reading a cache: the images, or why the cache was not usable. */
export type CacheRead = { raw: RawImages; reason?: undefined } | { raw?: undefined; reason: string };

function payloadHash(pixels: Uint8Array, labels: Uint8Array): Buffer {
  return createHash('sha256').update(pixels).update(labels).digest();
}

/** Reads and verifies a cache file; never throws (a bad cache is only a slower load). */
export function readImageCache(path: string, fingerprint: Buffer): CacheRead {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    return { reason: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no cache file' : `unreadable: ${(e as Error).message}` };
  }
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC)) return { reason: 'bad magic or short header' };
  const count = buf.readUInt32LE(8);
  const height = buf.readUInt32LE(12);
  const width = buf.readUInt32LE(16);
  const pixelBytes = count * height * width;
  if (buf.length !== HEADER_BYTES + pixelBytes + count) return { reason: `size ${buf.length} does not match header` };
  if (!buf.subarray(24, 56).equals(fingerprint)) return { reason: 'source files changed' };
  const pixels = new Uint8Array(buf.buffer, buf.byteOffset + HEADER_BYTES, pixelBytes);
  const labels = new Uint8Array(buf.buffer, buf.byteOffset + HEADER_BYTES + pixelBytes, count);
  if (!payloadHash(pixels, labels).equals(buf.subarray(56, 88))) return { reason: 'payload hash mismatch' };
  return { raw: { pixels, labels, count, height, width } };
}

/**
 * Writes a cache atomically (temp file + rename). Returns an error message instead of
 * throwing: an unwritable cache folder must not stop a load that already succeeded.
 */
export function writeImageCache(path: string, fingerprint: Buffer, raw: RawImages): { ok: true } | { ok: false; error: string } {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(raw.count, 8);
  header.writeUInt32LE(raw.height, 12);
  header.writeUInt32LE(raw.width, 16);
  fingerprint.copy(header, 24);
  payloadHash(raw.pixels, raw.labels).copy(header, 56);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, Buffer.concat([header, raw.pixels, raw.labels]));
    renameSync(tmp, path);
    return { ok: true };
  } catch (e) {
    try { rmSync(tmp, { force: true }); } catch { /* the folder itself may be unusable */ }
    return { ok: false, error: (e as Error).message };
  }
}
