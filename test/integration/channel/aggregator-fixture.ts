// A real Aggregator (PATE, in-memory database) over a real SecureServer on loopback, and scripted sites for abuse tests.
import { Aggregator, type RunSummary } from '../../../server/aggregator.ts';
import { RunDatabase } from '../../../server/run-database.ts';
import { validateRunConfig, type RunConfig } from '../../../server/run-config.ts';
import { Pate } from '../../../server/strategies/pate.ts';
import type { QueryReply, QueryRequest } from '../../../protocols/messages.ts';
import type { SecureClient } from '../../../shared/channel/secure-client.ts';
import type { SecureServer } from '../../../shared/channel/secure-server.ts';
import type { SecureSession } from '../../../shared/channel/secure-session.ts';
import type { Identity } from '../../../shared/crypto/identity.ts';
import { allowlist, clientFor, startServer } from './helpers.ts';

export const PUBLIC_SET = { spec: 'test:public', hash: 'sha256:feed', length: 20, numClasses: 3 };

export interface Harness {
  server: SecureServer;
  db: RunDatabase;
  config: RunConfig;
  aggregator: Aggregator;
  log: string[];
  /** Resolves with the run summary, or rejects when the run fails or exceeds `ms`. */
  finish(ms?: number): Promise<RunSummary>;
  close(): Promise<void>;
}

/** Starts a PATE run on loopback: small public set, 3 classes, tight timeouts, a generous budget. */
export async function startRun(over: Record<string, unknown> = {}): Promise<Harness> {
  const server = await startServer();
  const db = new RunDatabase(':memory:');
  const config = validateRunConfig({
    run_id: 'abuse-run', identity: 'in-memory', allowlist: 'in-memory', database: 'in-memory', public_set: PUBLIC_SET.spec,
    strategy: { name: 'pate', queries_per_round: 4, threshold: 0, sigma1: 0.5, sigma2: 0.5 },
    privacy: { epsilon: 1e9, delta: 1e-5 }, rounds: 2, quorum: 2, min_sites: 2,
    round_timeout_s: 2, straggler_grace_s: 0.2, join_timeout_s: 5, ...over,
  });
  const log: string[] = [];
  const strategy = new Pate({ queriesPerRound: 4, threshold: 0, sigma1: 0.5, sigma2: 0.5, minReplies: config.quorum });
  const aggregator = new Aggregator({ db, config, strategy, hub: server, publicSet: PUBLIC_SET, log: (l) => log.push(l) });
  const running = aggregator.run();
  running.catch(() => {});
  return {
    server, db, config, aggregator, log,
    finish: (ms = 8000) => {
      let timer: NodeJS.Timeout;
      const guard = new Promise<never>((_, reject) => { timer = setTimeout(() => { aggregator.stop(); reject(new Error(`run did not finish within ${ms} ms; log:\n${log.join('\n')}`)); }, ms); });
      return Promise.race([running, guard]).finally(() => clearTimeout(timer));
    },
    close: async () => { aggregator.stop(); await server.close(); db.close(); },
  };
}

/** An honest PATE reply: one vote per row for class (index mod classes). */
export function honestReply(q: QueryRequest): Omit<QueryReply, 'v'> {
  const rows = q.indices.length;
  const votes = new Int32Array(rows * PUBLIC_SET.numClasses);
  q.indices.forEach((idx, r) => { votes[r * PUBLIC_SET.numClasses + (idx % PUBLIC_SET.numClasses)] = 1; });
  return { type: 'query_reply', requestId: q.requestId, round: q.round, replyKind: 'vote_histogram', rows, cols: PUBLIC_SET.numClasses, votes, stats: { teachers: 1 } };
}

/**
 * A site that joins and answers queries with `reply` (honest by default), and sends metrics for
 * each consensus. `reply` returning undefined sends nothing.
 */
export async function scriptedSite(server: SecureServer, identity: Identity, reply: (q: QueryRequest, n: number) => Omit<QueryReply, 'v'> | undefined = honestReply): Promise<{ client: SecureClient; session: SecureSession; consensus: number[] }> {
  const client = clientFor(server, identity);
  const consensus: number[] = [];
  let n = 0;
  client.on('message', (m) => {
    if (m.type === 'query_request') {
      const r = reply(m, n++);
      if (r) client.send(r);
    } else if (m.type === 'consensus') {
      consensus.push(m.round);
      client.send({ type: 'metrics', round: m.round, values: { accuracy: 0.5 } });
    }
  });
  const session = await client.start();
  // the name the allowlist gives this key (the aggregator refuses any other)
  const siteName = allowlist.siteNameOf(identity.publicKey) ?? 'unlisted';
  const welcome = await session.request({ type: 'join', siteName, capabilities: ['vote_histogram'], datasetHashes: { public_set: PUBLIC_SET.hash } });
  if (welcome.type !== 'welcome') throw new Error(`join refused: ${JSON.stringify(welcome)}`);
  return { client, session, consensus };
}
