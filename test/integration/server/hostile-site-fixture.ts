// A real Aggregator (any strategy, audit log on) over a real SecureServer on loopback, with named sites that script their replies.
import { Aggregator, type RunSummary } from '../../../server/aggregator.ts';
import { RunDatabase } from '../../../server/run-database.ts';
import { validateRunConfig, type RunConfig } from '../../../server/run-config.ts';
import { strategyFor } from '../../../server/run-aggregator.ts';
import { AuditLog } from '../../../shared/audit/audit-log.ts';
import { SqliteAuditStore } from '../../../shared/audit/sqlite-audit-store.ts';
import { Allowlist } from '../../../shared/crypto/allowlist.ts';
import { generateIdentity, type Identity } from '../../../shared/crypto/identity.ts';
import { SecureServer } from '../../../shared/channel/secure-server.ts';
import type { SecureClient } from '../../../shared/channel/secure-client.ts';
import type { SecureSession } from '../../../shared/channel/secure-session.ts';
import type { QueryReply, QueryRequest } from '../../../protocols/messages.ts';
import { clientFor, serverIdentity } from '../channel/helpers.ts';

export const PUBLIC_SET = { spec: 'test:public', hash: 'sha256:feed', length: 20, numClasses: 3 };

export type ReplyScript = (q: QueryRequest, n: number) => Omit<QueryReply, 'v'> | undefined;

export interface HostileHarness {
  server: SecureServer;
  db: RunDatabase;
  config: RunConfig;
  audit: AuditLog;
  store: SqliteAuditStore;
  aggregator: Aggregator;
  log: string[];
  identities: Record<string, Identity>;
  /** Resolves with the run summary, rejects when the run throws or exceeds `ms`. */
  finish(ms?: number): Promise<RunSummary>;
  close(): Promise<void>;
}

/**
 * Starts a run whose allowlist holds `names` (a fresh key each), on loopback, with the audit log a
 * deployment writes. Defaults: PATE, 4 queries per round, 2 rounds, quorum 1, tight timeouts.
 */
export async function startHostileRun(names: string[], over: Record<string, unknown> = {}): Promise<HostileHarness> {
  const identities = Object.fromEntries(names.map((n) => [n, generateIdentity()]));
  // Names an Allowlist refuses (reserved ones such as "toString") get a bare key → name map, so the
  // aggregator's own handling of them stays tested behind the allowlist's refusal.
  const reserved = names.some((n) => n in Object.prototype);
  const allowlist = reserved
    ? ({ siteNameOf: (key: Uint8Array) => names.find((n) => Buffer.from(identities[n]!.publicKey).equals(Buffer.from(key))), size: names.length } as unknown as Allowlist)
    : new Allowlist(names.map((n) => [identities[n]!.publicKey, n] as const));
  const server = await new SecureServer({ identity: serverIdentity, allowlist, port: 0, handshakesPerSecondPerAddress: Infinity }).listen();
  const db = new RunDatabase(':memory:');
  const store = new SqliteAuditStore(db.sqlite);
  const audit = new AuditLog(store, serverIdentity);
  const config = validateRunConfig({
    run_id: 'hostile-run', identity: 'in-memory', allowlist: 'in-memory', database: 'in-memory', public_set: PUBLIC_SET.spec,
    strategy: { name: 'pate', queries_per_round: 4, threshold: 0, sigma1: 0.5, sigma2: 0.5 },
    privacy: { epsilon: 1e9, delta: 1e-5 }, rounds: 2, quorum: 1, min_sites: names.length,
    round_timeout_s: 2, straggler_grace_s: 0.3, join_timeout_s: 5, ...over,
  });
  const log: string[] = [];
  const aggregator = new Aggregator({ db, config, strategy: strategyFor(config), hub: server, publicSet: PUBLIC_SET, audit, log: (l) => log.push(l) });
  const running = aggregator.run();
  running.catch(() => {});
  return {
    server, db, config, audit, store, aggregator, log, identities,
    finish: (ms = 8000) => {
      let timer: NodeJS.Timeout;
      const guard = new Promise<never>((_, reject) => { timer = setTimeout(() => { aggregator.stop(); reject(new Error(`run did not finish within ${ms} ms; log:\n${log.join('\n')}`)); }, ms); });
      return Promise.race([running, guard]).finally(() => clearTimeout(timer));
    },
    close: async () => { aggregator.stop(); await server.close(); db.close(); },
  };
}

/** An honest reply of the kind asked: one vote per row (class index mod classes), or that class as a one-hot soft label. */
/**
 * A crash stand-in: appending an audit entry of `kind` throws as a failing disk would, so the write
 * (and the transaction around it) fails there. Returns the undo.
 */
export function failAuditAppend(h: HostileHarness, kind: string): () => void {
  const append = h.audit.append.bind(h.audit);
  h.audit.append = (input) => {
    if (input.kind === kind) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
    return append(input);
  };
  return () => { h.audit.append = append; };
}

/** A new Aggregator on the harness's database, hub and audit log: the server restarted with the same config. */
export function restartAggregator(h: HostileHarness, log: string[]): Promise<RunSummary> {
  return new Aggregator({ db: h.db, config: h.config, strategy: strategyFor(h.config), hub: h.server, publicSet: PUBLIC_SET, audit: h.audit, log: (l) => log.push(l) }).run();
}

export function honestReply(q: QueryRequest, teachers = 1): Omit<QueryReply, 'v'> {
  const rows = q.indices.length;
  const cols = PUBLIC_SET.numClasses;
  const cells = new Array<number>(rows * cols).fill(0);
  q.indices.forEach((idx, r) => { cells[r * cols + (idx % cols)] = teachers; });
  const base = { type: 'query_reply' as const, requestId: q.requestId, round: q.round, rows, cols, stats: { teachers } };
  return q.replyKind === 'soft_labels'
    ? { ...base, replyKind: 'soft_labels', soft: Float32Array.from(cells) }
    : { ...base, replyKind: 'vote_histogram', votes: Int32Array.from(cells) };
}

export interface ScriptedSite {
  client: SecureClient;
  session: SecureSession;
  /** Rounds whose consensus arrived, and the consensus soft labels by round (soft-label runs). */
  consensus: number[];
  soft: Map<number, Float32Array>;
  queries: QueryRequest[];
}

/** A site that joins under `name` and answers each query with `reply`; sends metrics for each consensus (after `metricsDelayMs`) unless `metrics` is false (`metricValues`: what it reports, default an accuracy of 0.5). */
export async function hostileSite(h: HostileHarness, name: string, reply: ReplyScript = (q) => honestReply(q), o: { metrics?: boolean; metricsDelayMs?: number; metricValues?: Record<string, number> } = {}): Promise<ScriptedSite> {
  const client = clientFor(h.server, h.identities[name]!);
  const site: Omit<ScriptedSite, 'session'> = { client, consensus: [], soft: new Map(), queries: [] };
  let n = 0;
  client.on('message', (m) => {
    if (m.type === 'query_request') {
      site.queries.push(m);
      const r = reply(m, n++);
      if (r) client.send(r);
    } else if (m.type === 'consensus') {
      site.consensus.push(m.round);
      if (m.soft) site.soft.set(m.round, m.soft);
      const send = () => { if (client.session) client.send({ type: 'metrics', round: m.round, values: o.metricValues ?? { accuracy: 0.5 } }); };
      if (o.metrics !== false) { if (o.metricsDelayMs) setTimeout(send, o.metricsDelayMs); else send(); }
    }
  });
  const session = await client.start();
  const welcome = await session.request({ type: 'join', siteName: name, capabilities: ['vote_histogram', 'soft_labels'], datasetHashes: { public_set: PUBLIC_SET.hash } });
  if (welcome.type !== 'welcome') throw new Error(`join refused: ${JSON.stringify(welcome)}`);
  return { ...site, session };
}
