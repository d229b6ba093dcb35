// Which command a config file belongs to, for the error when it is given to the other one.
import { FedistillError, UsageError } from './errors.ts';

/**
 * A run config given to `fedistill client` (or a site config to `fedistill server`) fails on its
 * first key with a list of known keys, which does not say the file is simply the wrong one. When
 * `e` is that failure for the parsed file `raw` and the file is the other kind (a run config has
 * `run_id`; a site config has `name` and `server` and no `run_id`), returns an error that says so
 * and names the command that takes it; otherwise returns `e` unchanged. The loaders call it, so
 * every command that reads a config gets the hint.
 */
export function wrongConfigKind(e: unknown, raw: unknown, path: string, expected: 'run' | 'site'): unknown {
  if (!(e instanceof FedistillError) || e.code !== 'E_CONFIG_INVALID') return e;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return e;
  const isRun = 'run_id' in raw && !('name' in raw);
  const isSite = !('run_id' in raw) && 'name' in raw && 'server' in raw;
  if (expected === 'site' && isRun) {
    return new UsageError(`${path} is a run config (run_id, no name): run it with \`fedistill server --config ${path}\`; \`fedistill client\` takes a site config (docs/runs.md)`, 'E_CONFIG_INVALID');
  }
  if (expected === 'run' && isSite) {
    return new UsageError(`${path} is a site config (name and server, no run_id): run it with \`fedistill client --config ${path}\`; \`fedistill server\` takes a run config (docs/runs.md)`, 'E_CONFIG_INVALID');
  }
  return e;
}
