// Writes a file so that readers see the old content or the new, never half of it: a temporary file, then a rename.
import { rename, rm, writeFile } from 'node:fs/promises';
import { FedistillError } from './errors.ts';

let counter = 0;

/**
 * Replaces `path` with `data` atomically (same folder, rename), so a crash mid-write leaves the
 * previous file intact: a checkpoint is never lost to the write that replaces it. Failures are
 * E_FILE_WRITE with the reason.
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${counter++}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
    throw new FedistillError('E_FILE_WRITE', `cannot write ${path}: ${why}; choose another path or fix the folder`);
  }
}
