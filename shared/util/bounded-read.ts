// Reads a file only up to a size limit: the limit is checked from fstat before reading, and enforced while reading.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** What `readFileUpTo` found: the bytes, or that the file is over the limit (nothing more was read). */
export type BoundedRead =
  | { ok: true; bytes: Buffer }
  | { ok: false; why: 'too_large'; size: number | undefined }
  | { ok: false; why: 'not_a_file' };

/**
 * Reads `path` if it holds at most `maxBytes`. A regular file's size comes from fstat on the open
 * descriptor, before any byte is read; a device or pipe (which fstat sizes as 0: /dev/zero, a FIFO)
 * is read in chunks and given up on past `maxBytes`, or refused outright with `regularOnly`.
 * Open and read errors (ENOENT, EACCES, EISDIR) are thrown as Node's own errors.
 */
export function readFileUpTo(path: string, maxBytes: number, o: { regularOnly?: boolean } = {}): BoundedRead {
  // non-blocking open: a FIFO with no writer would otherwise hang here before it could be refused
  const fd = openSync(path, o.regularOnly ? constants.O_RDONLY | constants.O_NONBLOCK : constants.O_RDONLY);
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) {
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: 'EISDIR' });
    }
    if (!st.isFile() && o.regularOnly) return { ok: false, why: 'not_a_file' };
    if (st.isFile() && st.size > maxBytes) return { ok: false, why: 'too_large', size: st.size };
    const chunks: Buffer[] = [];
    let total = 0;
    // a regular file is read to its fstat size (plus one byte, to notice a file that grew since)
    const chunkBytes = st.isFile() ? Math.min(maxBytes + 1, st.size + 1) : Math.min(maxBytes + 1, 1 << 16);
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.max(1, Math.min(chunkBytes, maxBytes + 1 - total)));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) return { ok: false, why: 'too_large', size: st.isFile() ? Math.max(total, st.size) : undefined };
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    }
    return { ok: true, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) };
  } finally {
    closeSync(fd);
  }
}
