// Reads a file only up to a size limit: the limit is checked from fstat before reading, and enforced while reading.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** What `readFileUpTo` found: the bytes, or that the file is over the limit (nothing more was read). */
export type BoundedRead =
  | { ok: true; bytes: Buffer }
  | { ok: false; why: 'too_large'; size: number | undefined }
  | { ok: false; why: 'not_a_file' };

/** The most one read asks for (1 GiB). */
const MAX_READ_BYTES = 2 ** 30;

/** The smallest chunk after the first: a file larger than fstat said (procfs says 0) is not read a byte at a time. */
const MIN_CHUNK_BYTES = 1 << 16;

/**
 * Reads `path` if it holds at most `maxBytes`. A regular file's size comes from fstat on the open
 * descriptor, before any byte is read; a device or pipe (which fstat sizes as 0: /dev/zero, a FIFO)
 * is read in chunks and given up on past `maxBytes`, or refused outright with `regularOnly` (a unix
 * socket too, which cannot be opened).
 * Open and read errors (ENOENT, EACCES, EISDIR) are thrown as Node's own errors.
 */
export function readFileUpTo(path: string, maxBytes: number, o: { regularOnly?: boolean } = {}): BoundedRead {
  // non-blocking open: a FIFO with no writer would otherwise hang here before it could be refused
  let fd: number;
  try { fd = openSync(path, o.regularOnly ? constants.O_RDONLY | constants.O_NONBLOCK : constants.O_RDONLY); } catch (e) {
    // a unix socket cannot be opened at all (ENXIO): it is no more a regular file than a FIFO
    if (o.regularOnly && (e as NodeJS.ErrnoException).code === 'ENXIO') return { ok: false, why: 'not_a_file' };
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) {
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: 'EISDIR' });
    }
    if (!st.isFile() && o.regularOnly) return { ok: false, why: 'not_a_file' };
    if (st.isFile() && st.size > maxBytes) return { ok: false, why: 'too_large', size: st.size };
    // one byte past the limit is asked for, to notice a file over it
    const wanted = maxBytes + 1;
    const chunks: Buffer[] = [];
    let total = 0;
    // the first chunk is the fstat size plus one (a whole regular file in one read); each later one
    // at least 64 KiB and as large as all read so far, so that a file fstat undersizes (procfs: 0;
    // one still growing) costs O(log n) buffers and reads of any useful size, not one per byte
    let buf = Buffer.allocUnsafe(Math.max(1, Math.min(wanted, st.isFile() ? st.size + 1 : MIN_CHUNK_BYTES)));
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        chunks.push(buf);
        buf = Buffer.allocUnsafe(Math.min(wanted - total, Math.max(MIN_CHUNK_BYTES, total)));
        used = 0;
      }
      // one readSync takes at most 2 GiB − 1 bytes (ERR_OUT_OF_RANGE above): larger files are read in pieces
      const n = readSync(fd, buf, used, Math.min(buf.length - used, MAX_READ_BYTES), null);
      if (n === 0) break;
      used += n;
      total += n;
      if (total > maxBytes) return { ok: false, why: 'too_large', size: st.isFile() ? Math.max(total, st.size) : undefined };
    }
    if (chunks.length === 0) return { ok: true, bytes: buf.subarray(0, used) };
    chunks.push(buf.subarray(0, used));
    return { ok: true, bytes: Buffer.concat(chunks, total) };
  } finally {
    closeSync(fd);
  }
}

/** TLS certificate, key and CA files are PEM text of a few KiB (a whole system CA bundle is ~220 KiB). */
export const MAX_TLS_FILE_BYTES = 1 << 20;

/**
 * Reads a small regular file whole (a certificate, a key), or throws an Error that says why not:
 * Node's own error when it cannot be opened, or that it is not a regular file or is over `maxBytes`.
 * Non-blocking, so a FIFO with no writer fails at once instead of hanging the caller.
 */
export function readRegularFileUpTo(path: string, maxBytes: number): Buffer {
  const got = readFileUpTo(path, maxBytes, { regularOnly: true });
  if (got.ok) return got.bytes;
  if (got.why === 'not_a_file') throw new Error(`${path} is not a regular file (a pipe, socket or device)`);
  throw new Error(`${path} is ${got.size !== undefined ? `${got.size} bytes` : `over ${maxBytes} bytes`}, more than the ${maxBytes} allowed`);
}
