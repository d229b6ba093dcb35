// An exclusive lock held by one process on one file, released when that process closes it or dies (kill -9 included).
//
// The lock is a small SQLite file beside the file it guards (`<file>-lock`) opened in SQLite's exclusive
// locking mode: the OS file lock stays until close or process death, so there is no stale lock file to
// clean up after a crash, and it works wherever SQLite does.
import Database from 'better-sqlite3';
import { accessSync, closeSync, constants, fstatSync, openSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A held lock; `release()` gives it back (process exit does too). */
export interface FileLock { readonly path: string; release(): void }

/**
 * A file's real path (symlinks resolved, as SQLite resolves them for its -wal file), or its folder's
 * real path and its name when it does not exist yet: another path to the same file (a symlink, `..`)
 * must find the same lock.
 */
export function canonicalPath(path: string): string {
  try { return realpathSync(path); } catch { /* not created yet */ }
  try { return join(realpathSync(dirname(path)), basename(path)); } catch { return path; }
}

/** The `removeOnRelease` locks this process holds, by lock file path. */
const heldHere = new Set<string>();

/**
 * Takes the exclusive lock `<guarded>-lock` for `guarded`, or returns undefined when another holder
 * has it. Other failures (a folder that cannot be written) are thrown as SQLite reports them.
 * `removeOnRelease`: the holder deletes the file when it lets go (locks named by a key, one file per
 * key, would pile up otherwise). It deletes it while still holding the lock, and a taker checks that
 * the file it locked is still the one at the path: one deleted meanwhile is no lock, and it tries again.
 */
export function tryLockFile(guarded: string, o: { removeOnRelease?: boolean } = {}): FileLock | undefined {
  const path = `${canonicalPath(guarded)}-lock`;
  if (!o.removeOnRelease) return lockAt(path);
  // Held by this process already: no, decided here. Opening and closing a descriptor of the file
  // below would drop this process's POSIX locks on it, the holder's included.
  if (heldHere.has(path)) return undefined;
  for (let attempt = 0; attempt < 8; attempt++) {
    // The file this attempt locks, held open so that its identity can be compared with the path's
    // afterwards, and closed only after the lock is let go: closing any descriptor of a file drops
    // every POSIX lock this process holds on it, SQLite's included.
    const fd = openSync(path, 'a');
    let lock: ReturnType<typeof lockAt>;
    try { lock = lockAt(path); } catch (e) { closeSync(fd); throw e; }
    if (!lock) { closeSync(fd); return undefined; }
    let same = false;
    try { const now = statSync(path), mine = fstatSync(fd); same = now.ino === mine.ino && now.dev === mine.dev; } catch { /* deleted: not the same */ }
    if (same) {
      heldHere.add(path);
      return { path, release: () => { lock!.release(true); closeSync(fd); heldHere.delete(path); } };
    }
    lock.release();
    closeSync(fd);
  }
  return undefined; // deleted under us eight times: someone else keeps taking and letting go of it
}

/** The lock itself; `release(true)` deletes the file first, while still holding it. */
function lockAt(path: string): (FileLock & { release(remove?: boolean): void }) | undefined {
  const db = new Database(path, { timeout: 0 });
  // A lock file this process may not write (another user's) opens read-only, and its exclusive
  // transaction then "succeeds" without locking anything: a failure, never a lock.
  try { accessSync(path, constants.W_OK); } catch {
    db.close();
    throw Object.assign(new Error(`${path} can only be opened read-only (another user's file?), so it cannot be locked`), { code: 'SQLITE_READONLY' });
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = MEMORY'); // no -journal file beside the lock
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    return {
      path,
      release: (remove = false) => {
        // deleted while still held: a taker that opened it meanwhile finds it gone, and tries again
        if (remove) { try { unlinkSync(path); } catch { /* gone already */ } }
        db.close();
      },
    };
  } catch (e) {
    db.close();
    if (String((e as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return undefined;
    throw e;
  }
}
