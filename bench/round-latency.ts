// Round latency without training: 50 sites on loopback (real secure websockets, SQLite ledger),
// each answering instantly; measures query → replies → aggregate + charge → consensus → metrics.
// Usage: node --import tsx bench/round-latency.ts [--sites 50] [--rounds 10] [--queries 500]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureServer } from '../shared/channel/secure-server.ts';
import { SecureClient } from '../shared/channel/secure-client.ts';
import { Allowlist } from '../shared/crypto/allowlist.ts';
import { generateIdentity } from '../shared/crypto/identity.ts';
import { SeededRng } from '../shared/util/prng.ts';
import { RunDatabase } from '../server/run-database.ts';
import { Aggregator } from '../server/aggregator.ts';
import { validateRunConfig } from '../server/run-config.ts';
import { strategyFor } from '../server/run-aggregator.ts';
import { benchArgs } from './bench-args.ts';

const { values } = benchArgs({
  name: 'round-latency',
  summary: `Round latency without training: sites on loopback (real secure websockets, SQLite ledger) answer instantly;
measures query → replies → aggregate + charge → consensus → metrics. Prints one JSON object.`,
  options: {
    sites: { kind: 'integer', arg: 'N', default: 50, help: 'sites' },
    rounds: { kind: 'integer', arg: 'R', default: 10, min: 2, help: 'rounds (≥ 2: a round is timed from the one before it)' },
    queries: { kind: 'integer', arg: 'N', default: 500, help: 'public samples queried per round' },
  },
});
const nSites = values.sites;
const rounds = values.rounds;
const queries = values.queries;
const classes = 10;

const dir = mkdtempSync(join(tmpdir(), 'fedistill-bench-'));
const serverId = generateIdentity();
const ids = Array.from({ length: nSites }, () => generateIdentity());
const server = await new SecureServer({
  identity: serverId, allowlist: new Allowlist(ids.map((id, i) => [id.publicKey, `site-${i}`] as const)), port: 0, handshakesPerSecondPerAddress: Infinity,
}).listen();
const config = validateRunConfig({
  run_id: 'bench', identity: 'unused', allowlist: 'unused', public_set: 'synthetic', rounds, quorum: nSites, min_sites: nSites,
  strategy: { name: 'dsfl', queries_per_round: queries }, privacy: { clip: 1, noise_multiplier: 5, epsilon: 1e9, delta: 1e-5 },
  round_timeout_s: 30, straggler_grace_s: 5,
}, dir);
config.database = join(dir, 'bench.db');
const db = new RunDatabase(config.database);
const completed: number[] = [];
const aggregator = new Aggregator({
  db, config, strategy: strategyFor(config), hub: server,
  publicSet: { spec: 'synthetic', hash: 'sha256-synthetic', length: 10_000, numClasses: classes },
  log: (l) => { if (/^round \d+\/\d+:/.test(l)) completed.push(performance.now()); },
});
const clients = ids.map((identity, i) => {
  const rng = new SeededRng(i);
  const c = new SecureClient({ url: server.url, identity, serverPublicKey: serverId.publicKey, reconnect: false });
  c.on('session', async (s) => {
    await s.request({ type: 'join', siteName: `site-${i}`, capabilities: ['soft_labels'], datasetHashes: { public_set: 'sha256-synthetic' } });
  });
  c.on('message', (m, s) => {
    if (m.type === 'query_request') {
      const rows = m.indices.length;
      const soft = new Float32Array(rows * classes);
      for (let r = 0; r < rows; r++) soft[r * classes + rng.int(classes)] = 1;
      s.send({ type: 'query_reply', requestId: m.requestId, round: m.round, replyKind: m.replyKind, rows, cols: classes, soft, privacyEvent: { type: 'gaussian', noise_multiplier: 5, count: rows }, stats: { teachers: 1 } });
    } else if (m.type === 'consensus') {
      s.send({ type: 'metrics', round: m.round, values: { accuracy: 0.5 } });
    }
  });
  return c;
});
const t0 = performance.now();
await Promise.all(clients.map((c) => c.start()));
const connectMs = performance.now() - t0;
const summary = await aggregator.run();
const per = completed.slice(1).map((t, i) => t - completed[i]!);
per.sort((a, b) => a - b);
for (const c of clients) c.close('bench done');
await server.close();
db.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({
  bench: 'round-latency', sites: nSites, rounds, queries_per_round: queries, classes, transport: 'secure websockets on loopback, one process',
  connect_all_ms: Math.round(connectMs),
  round_ms_p50: Number(per[Math.floor(per.length / 2)]!.toFixed(1)), round_ms_max: Number(per.at(-1)!.toFixed(1)),
  round_ms_mean: Number((per.reduce((a, b) => a + b, 0) / per.length).toFixed(1)),
  target_ms: 1000, status: summary.status, epsilon: summary.epsilon,
}));
