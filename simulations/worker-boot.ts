// The boot module of a simulation worker thread: registers tsx, then imports the thread's .ts entry.
/**
 * Worker threads do not inherit the parent's TypeScript loader (tsx) in Node 20, so a worker
 * starts from a tiny ES module (a data: URL) that registers tsx and then imports `entry`.
 */
export function workerBootUrl(entry: URL): URL {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
