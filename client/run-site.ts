// Starts a site agent from a validated site config: loads private data, trains locally, connects, serves rounds.
import { loadDataset } from '../shared/data/catalog.ts';
import { subset } from '../shared/data/image-dataset.ts';
import { partitionLabels } from '../shared/data/partition.ts';
import { decodePublicKey, encodePublicKey, fingerprint, type Identity, readIdentityFile } from '../shared/crypto/identity.ts';
import { SecureClient } from '../shared/channel/secure-client.ts';
import { endBySignal } from '../shared/util/signal-exit.ts';
import { disabledProtections } from '../shared/channel/connection-limits.ts';
import { accessSync, closeSync, constants, lstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { type FileLock, tryLockFile } from '../shared/util/file-lock.ts';
import { FedistillError, check } from '../shared/util/errors.ts';
import { SiteAgent } from './site-agent.ts';
import { loadCsvDataset } from '../shared/data/csv-dataset.ts';
import { loadOnnxTeacher } from '../shared/ml/inference.ts';
import { SiteClient, type SiteRunResult } from './site-client.ts';
import { SiteLedger } from './site-ledger.ts';
import type { SiteConfig } from './site-config.ts';

/** The site's private data: a split, or one client's share of a seeded partition of it. */
function loadPrivateData(c: SiteConfig) {
  const ds = c.data.file ? loadCsvDataset(c.data.file, { shape: c.data.shape!, classes: c.data.classes! }) : loadDataset(c.data.dataset!);
  const p = c.data.partition;
  if (!p) return ds;
  check(Number.isInteger(p.index) && p.index >= 0 && p.index < p.clients, 'data.partition.index', `must be in 0..${p.clients - 1}`);
  const part = partitionLabels(p.scheme, { labels: ds.labels, numClasses: ds.numClasses, clients: p.clients, seed: p.seed }, { alpha: p.alpha, shards: p.shards, infeasibleAdvice: 'raise data.partition.alpha or use fewer clients (data.partition.clients, the same at every site)' });
  return subset(ds, part.clients[p.index]!.indices);
}

/**
 * Fails in seconds on what would otherwise fail after minutes of training: a ledger the site
 * cannot append to (every query would be refused) or a student_out folder that is missing.
 */
export function checkSiteOutputs(c: SiteConfig): void {
  // non-blocking: a FIFO with no reader fails at once (ENXIO) instead of hanging the site
  try { closeSync(openSync(c.ledger, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK)); } catch (e) {
    throw new FedistillError('E_LEDGER_WRITE', `ledger ${c.ledger} cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the site records every release there before sending it: create its folder or make it writable`);
  }
  if (c.studentOut) {
    const dir = dirname(c.studentOut);
    let isDir = false;
    try { isDir = statSync(dir).isDirectory(); } catch { /* reported below */ }
    if (!isDir) throw new FedistillError('E_FILE_WRITE', `student_out ${c.studentOut}: folder ${dir} does not exist; create it`);
    try { accessSync(dir, constants.W_OK); } catch (e) {
      throw new FedistillError('E_FILE_WRITE', `student_out ${c.studentOut}: folder ${dir} is not writable (${(e as NodeJS.ErrnoException).code}); fix its permissions`);
    }
  }
}

/** What `fedistill client` reports: the run's result, or that the operator stopped the site before its end. */
export type SiteOutcome =
  | (SiteRunResult & { site: string; studentOut?: string; stopped?: false })
  | { site: string; stopped: true; ledger: string };

/**
 * One hint per kind of connection failure the operator can fix, logged the first time it happens:
 * the reconnect lines that follow only repeat the cause (cut to one line), not what to do about it.
 */
export function connectionHints(c: SiteConfig, identity: { publicKey: Uint8Array }, log: (line: string) => void): (lastError: string) => void {
  const given = new Set<string>();
  return (lastError) => {
    const code = /^E_[A-Z_]+/.exec(lastError)?.[0];
    if (!code || given.has(code)) return;
    if (code === 'E_UNKNOWN_SITE_KEY') {
      log(`this site's key is not on the aggregator's allowlist: send its public key ${encodePublicKey(identity.publicKey)} (fingerprint ${fingerprint(identity.publicKey)}; \`fedistill keys show ${c.identity}\`) and its name ${c.settings.name} to the aggregator's operator, who adds them to the allowlist and restarts \`fedistill server\` with the same config; this site keeps retrying meanwhile (at most every 30 s; Ctrl-C stops it). If the operator removed this site from the run on purpose, stop it`);
    } else if (code === 'E_NOT_CONNECTED') {
      const retrying = 'this site keeps retrying (at most every 30 s; Ctrl-C stops it)';
      const http = /Unexpected server response: (\d+)/.exec(lastError);
      const dns = /\b(ENOTFOUND|EAI_AGAIN)\b/.exec(lastError);
      // one hint per kind of failure: what answers (or does not) says what is wrong
      const kind = http ? 'http' : dns ? 'dns' : 'none';
      if (given.has(`${code}/${kind}`)) return;
      given.add(`${code}/${kind}`);
      if (http) log(`something at ${c.server.url} answers, but not as a fedistill aggregator (HTTP ${http[1]} instead of a websocket): server.url points at another service, or the wrong port or path; ${retrying}`);
      else if (dns) log(`the host of ${c.server.url} cannot be resolved (${dns[1]}): check server.url (and this machine's DNS); ${retrying}`);
      else log(`nothing answers at ${c.server.url} yet: the aggregator is not started, or server.url is wrong; ${retrying}`);
      return;
    } else if (code === 'E_HANDSHAKE_REPLAY') {
      const retrying = 'this site keeps retrying (at most every 30 s; Ctrl-C stops it)';
      // this site's own check of the aggregator's hello (its max_clock_skew_ms may be the smaller)
      const ours = /^E_HANDSHAKE_REPLAY: aggregator clock is (\d+) s (ahead of|behind) ours/.exec(lastError);
      // the aggregator's close reason is cut to 123 bytes, which drops its advice: say it here
      // "site clock is 3600 s ahead of ours" (an aggregator before it said "timestamp is −3600 s from our clock")
      const now = /site clock is (\d+) s (ahead of|behind) ours/.exec(lastError), before = /timestamp is (-?\d+) s from our clock/.exec(lastError);
      const skew = now ? { s: Number(now[1]), ahead: now[2] === 'ahead of' } : before ? { s: Math.abs(Number(before[1])), ahead: Number(before[1]) < 0 } : undefined;
      if (ours) log(`this site refused the aggregator's handshake: the aggregator's clock is ${ours[1]} s ${ours[2]} this machine's, more than this site's max_clock_skew_ms allows (connection_limits, default 300 s): set the clock right (NTP) on whichever machine is wrong; ${retrying}`);
      else if (skew) log(`the aggregator refused this site's handshake: this machine's clock is ${skew.s} s ${skew.ahead ? 'ahead of' : 'behind'} the aggregator's, more than its max_clock_skew_ms allows (default 300 s): set this machine's clock right (NTP), or ask the aggregator's operator to check theirs; ${retrying}`);
      else log(`the aggregator refused this site's handshake (a clock difference beyond its max_clock_skew_ms, default 300 s, or a handshake it saw before): check this machine's clock (NTP), or ask the aggregator's operator to check theirs; ${retrying}`);
    } else return;
    given.add(code);
  };
}

/**
 * A warning when the distilled student ends less accurate on the eval set than the local-only model:
 * the summary shows both figures, but an operator exporting the student should not have to compare them.
 */
export function studentWorseWarning(r: { baselineAccuracy?: number; finalAccuracy?: number; roundsDigested: number }): string | undefined {
  const { baselineAccuracy: before, finalAccuracy: after } = r;
  if (before === undefined || after === undefined || r.roundsDigested === 0 || !(after < before)) return undefined;
  return `warning: the distilled student is less accurate than the local-only model on the eval set (${before.toFixed(4)} → ${after.toFixed(4)}): the consensus was too noisy, or too far from this site's data, to help it; more teachers per site (run.yaml privacy.teachers_per_site with site.yaml teachers: example-level), less noise or more queries per round usually help (docs/runs.md)`;
}

export interface RunSiteOptions {
  /** Called just before a signal during local training ends the process (exit 130/143): `--json` prints its object there. */
  onSignalExit?: (signal: NodeJS.Signals, line: string) => void;
}

/** Runs one site to the end of the run, or until a signal stops it (then `stopped: true`). */
export async function runSite(c: SiteConfig, log: (line: string) => void, o: RunSiteOptions = {}): Promise<SiteOutcome> {
  // Keys and outputs first: a bad path fails now, not after local training.
  checkSiteOutputs(c);
  // One client per ledger (E_LEDGER_LOCKED), and per site key on this machine (E_SITE_KEY_IN_USE),
  // found before anything loads or trains; both held to the end.
  const ledger = new SiteLedger(c.ledger, { exclusive: true });
  let keyLock: FileLock | undefined;
  try {
    const identity = readIdentityFile(c.identity);
    keyLock = lockSiteKey(c.identity, identity.publicKey, log);
    return await runSiteOn(ledger, identity, c, log, o);
  } finally {
    keyLock?.release();
    ledger.close();
  }
}

/**
 * Where the lock of a site key lives: named by its public key, so a copy of the key file finds it
 * too, in a folder of this user's own (mode 0700; siteKeyLockFolder). In a shared folder another
 * user who knows the public key could hold it first, or leave a file this user can only read,
 * which locks nothing.
 */
export function siteKeyLockPath(publicKey: Uint8Array): string {
  return join(siteKeyLockFolder(), `fedistill-site-${fingerprint(publicKey).replaceAll(':', '')}`);
}

/**
 * The user's own: `$XDG_RUNTIME_DIR/fedistill-locks` (a per-user folder the system makes, mode 700),
 * else `~/.fedistill/locks`. Not the shared temporary folder: another user could make the folder
 * there first, and the client would then run without the lock.
 */
export function siteKeyLockFolder(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime && isAbsolute(runtime) ? join(runtime, 'fedistill-locks') : join(homedir(), '.fedistill', 'locks');
}

/** Creates the lock folder, or checks the one there: a real folder (not a link), this user's, open to nobody else. */
export function ownLockFolder(dir: string): void {
  mkdirSync(dir, { mode: 0o700, recursive: true }); // a folder there already is no error
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new Error(`${dir} is not a folder`);
  if (uid !== undefined && st.uid !== uid) throw new Error(`${dir} belongs to another user (uid ${st.uid})`);
  if ((st.mode & 0o077) !== 0) throw new Error(`${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); it must be 700`);
}

/**
 * One client per site identity for this user on this machine: two clients with one key and two
 * ledgers would each record only their own replies, so neither ledger would hold the site's whole
 * spend. Taken by public key in this user's lock folder; when that folder cannot be made or is not
 * safe, the site runs with a note (the aggregator still lets one session per key at a time).
 */
export function lockSiteKey(keyPath: string, publicKey: Uint8Array, log: (line: string) => void): FileLock | undefined {
  const guarded = siteKeyLockPath(publicKey);
  let lock: FileLock | undefined;
  try { ownLockFolder(siteKeyLockFolder()); lock = tryLockFile(guarded, { removeOnRelease: true }); } catch (e) {
    log(`note: cannot take the site key's lock ${guarded}-lock (${(e as Error).message}): a second client with this key on this machine would not be refused`);
    return undefined;
  }
  if (!lock) {
    throw new FedistillError('E_SITE_KEY_IN_USE', `site key ${keyPath} (fingerprint ${fingerprint(publicKey)}) is in use by another fedistill client of this user on this machine (it holds ${guarded}-lock), with another ledger: each would record only its own replies, so neither ledger would hold the site's whole spend; stop the other client, or give this one its own key (fedistill keys generate) and allowlist entry`);
  }
  return lock;
}

async function runSiteOn(ledger: SiteLedger, identity: Identity, c: SiteConfig, log: (line: string) => void, o: RunSiteOptions): Promise<SiteOutcome> {
  const serverPublicKey = decodePublicKey(c.server.publicKey, 'server.public_key');
  const privateData = loadPrivateData(c);
  const publicSpec = c.publicSet;
  const agent = new SiteAgent(c.settings, { privateData, publicSet: loadDataset(publicSpec), ...(c.evalSet ? { evalSet: loadDataset(c.evalSet) } : {}) }, ledger);
  if (c.teacherOnnx) agent.useExternalTeacher(await loadOnnxTeacher(c.teacherOnnx, { sampleShape: [...privateData.shape], classes: privateData.numClasses }));
  log(`${privateData.length} private samples; training ${c.settings.teachers > 1 ? `${c.settings.teachers} teachers and ` : ''}the local model`);
  // Ctrl-C while the local models train: nothing has left the site yet. Say so and stop at once.
  const duringTraining = (signal: NodeJS.Signals) => {
    const line = `stopping (${signal}) during local training: nothing has left this site yet; restart it with the same config`;
    log(line);
    o.onSignalExit?.(signal, line);
    endBySignal(signal);
  };
  process.once('SIGINT', duringTraining);
  process.once('SIGTERM', duringTraining);
  try { await agent.prepare(); } finally { process.off('SIGINT', duringTraining); process.off('SIGTERM', duringTraining); }
  log(`local-only accuracy ${agent.baselineAccuracy?.toFixed(4) ?? 'n/a'}; connecting to ${c.server.url}`);
  for (const w of disabledProtections(c.connectionLimits)) log(w);
  const client = new SecureClient({ url: c.server.url, identity, serverPublicKey, ...(c.connectionLimits ? { limits: c.connectionLimits } : {}) });
  const site = new SiteClient(agent, client, publicSpec, log);
  const hint = connectionHints(c, identity, log);
  client.on('reconnecting', (r) => hint(r.lastError));
  // On a signal the client closes, which settles start() and `finished` (as rejections): the
  // site then reports that it was stopped, not an error.
  // One listener for the whole run (not `once` and a second one later): between the two, a quick
  // second Ctrl-C met no listener and killed the process with its default action, silently.
  let stopped = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopped) {
      // a second signal stops at once, as the line below says, with the summary --json promises (a
      // ledger line is written synchronously: a signal cannot land inside one; exit frees the lock)
      const line = `stopping at once (${signal}): the query or digest in progress is cut, and its reply was not sent; restart with the same config to rejoin the run`;
      log(line);
      o.onSignalExit?.(signal, line);
      endBySignal(signal);
      return;
    }
    stopped = true;
    void site.stop();
    log(`stopping (signal); every reply that left this site is in its ledger ${c.ledger}: restart it with the same config to rejoin the run`);
    client.close('site stopping (signal)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await client.start();
    const result = await site.finished;
    const worse = studentWorseWarning(result);
    if (worse) log(worse);
    // a run in which this site digested no round (it joined late, or its budget left it out) has no
    // distilled student: the local-only model must not replace one an earlier run wrote there
    const write = c.studentOut !== undefined && result.roundsDigested > 0;
    if (write) await agent.exportStudent(c.studentOut!);
    else if (c.studentOut !== undefined) log(`no round was digested in this run: the student was not written (${c.studentOut} keeps what it held)`);
    return { ...result, site: c.settings.name, ...(write ? { studentOut: c.studentOut } : {}) };
  } catch (e) {
    if (stopped) {
      // the job in progress ends (its reply goes nowhere) before the ledger's lock is given back;
      // a second signal meanwhile stops at once (onSignal)
      if (site.working) log('finishing the query or digest in progress first, so that nothing writes the ledger after this client lets it go (Ctrl-C again stops at once)');
      await site.stop();
      return { site: c.settings.name, stopped: true, ledger: c.ledger };
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    client.close('site done');
  }
}
