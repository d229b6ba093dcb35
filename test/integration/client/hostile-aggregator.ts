// Test helper: a real SiteAgent and SiteClient facing an aggregator impostor (a SecureServer on loopback holding the pinned key) that the test drives by hand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorMessage, QueryReply, QueryRequest, SessionMessage } from '../../../protocols/messages.ts';
import { SiteClient } from '../../../client/site-client.ts';
import { SiteAgent, type SiteSettings } from '../../../client/site-agent.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import type { OnnxTeacher } from '../../../shared/ml/inference.ts';
import type { SecureSession } from '../../../shared/channel/secure-session.ts';
import type { Dataset } from '../../../shared/data/types.ts';
import { separableDataset } from '../../unit/client/separable-csv.ts';
import { clientFor, nextSession, siteA, sleep, startServer } from '../channel/helpers.ts';

/** Logits per public row (16 features, 3 classes) of the stand-in teacher. */
export type LogitsOf = (features: Float32Array) => number[];

/**
 * A real SiteAgent (10 public samples of 16 features, 3 classes) answering through a stand-in
 * teacher whose logits are `logitsOf(row)`; `ledgerFile` makes its ledger a file (for reloads); the
 * teacher answers once `gate` resolves.
 */
export function realAgent(policy: Partial<SiteSettings['policy']>, logitsOf: LogitsOf = () => [1, 1, 1], ledgerFile?: string, gate: Promise<void> = Promise.resolve()) {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-hostile-'));
  try {
    const privateData = separableDataset(dir, 'priv.csv', 12, 2);
    const publicSet = separableDataset(dir, 'pub.csv', 10, 3);
    const ledger = new SiteLedger(ledgerFile);
    const agent = new SiteAgent({
      name: 'site-a', model: 'mlp', teachers: 1, seed: 1, device: 'cpu', threads: 1,
      local: { epochs: 0, batchSize: 16, lr: 1e-3, optimizer: 'adam' }, digest: { epochs: 0, revisitEpochs: 0, temperature: 1, privateMix: 0 },
      policy: { clip: 0.5, localNoiseMultiplier: 0, ...policy },
    }, { privateData, publicSet }, ledger);
    const runs = { predict: 0 };
    agent.useExternalTeacher({
      inputName: 'x', sampleShape: [1, 4, 4], async release() {},
      async predict(features: Float32Array) {
        runs.predict++;
        await gate;
        const rows = features.length / 16;
        const logits = new Float32Array(rows * 3);
        for (let r = 0; r < rows; r++) logits.set(logitsOf(features.subarray(r * 16, (r + 1) * 16)), r * 3);
        return { logits };
      },
    } as unknown as OnnxTeacher);
    return { agent, ledger, runs, publicSet: publicSet as Dataset };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The impostor: welcomes the join with `config` (rounds 5 unless given), then the test writes messages by hand. */
export async function impostor(agent: SiteAgent, config: Record<string, unknown>) {
  const server = await startServer();
  const accepted = nextSession(server);
  const client = clientFor(server, siteA, { reconnect: false });
  const logs: string[] = [];
  const site = new SiteClient(agent, client, 'test:public', (l) => logs.push(l));
  const outcome = site.finished.then((r) => r, (e: Error & { code?: string }) => e);
  const errors: ErrorMessage[] = [];
  const messages: SessionMessage[] = [];
  const welcomed = new Promise<SecureSession>((resolve) => {
    void accepted.then((s) => s.on('message', (m: SessionMessage) => {
      messages.push(m);
      if (m.type === 'error') errors.push(m);
      if (m.type === 'join') {
        s.send({ type: 'welcome', requestId: m.requestId, runId: 'run-1', config: { rounds: 5, ...config } });
        resolve(s);
      }
    }));
  });
  await client.start();
  const session = await welcomed;
  return { server, client, site, outcome, session, errors, messages, logs, close: async () => { client.close(); await server.close(); } };
}

let nextId = 0;
/** A protocol-valid query_request under a fresh request id (soft labels on rows 0–3 unless overridden). */
export const query = (publicHash: string, over: Partial<QueryRequest> = {}): Omit<QueryRequest, 'v'> => ({
  type: 'query_request', requestId: `run-1.q${nextId++}`, round: 0, publicSet: { datasetSpec: 'test:public', hash: publicHash },
  indices: Uint32Array.of(0, 1, 2, 3), replyKind: 'soft_labels', params: { temperature: 1 }, ...over,
});

/** The site's answer to `q`: its reply, or the error it sent back (code and message). */
export async function ask(session: SecureSession, q: Omit<QueryRequest, 'v'>): Promise<QueryReply | { code: string; message: string }> {
  try {
    const reply = await session.request(q);
    if (reply.type !== 'query_reply') throw new Error(`expected query_reply, got ${reply.type}`);
    return reply;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (!err.code) throw e;
    return { code: err.code, message: err.message };
  }
}

export async function until(ok: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 300 && !ok(); i++) await sleep(10);
  if (!ok()) throw new Error(what());
}
