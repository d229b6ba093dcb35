// What the aggregator's operator reads, on loopback: each joined site's departure, and join refusals (never logged as joined).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { WsTransport } from '../../../shared/channel/ws-transport.ts';
import type { SecureServer } from '../../../shared/channel/secure-server.ts';
import type { Identity } from '../../../shared/crypto/identity.ts';
import { SiteClient } from '../../../client/site-client.ts';
import type { SiteAgent } from '../../../client/site-agent.ts';
import { SiteLedger } from '../../../client/site-ledger.ts';
import { clientFor, siteA, siteB, sleep } from '../channel/helpers.ts';
import { PUBLIC_SET, scriptedSite, startRun } from '../channel/aggregator-fixture.ts';

async function until(ok: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 300 && !ok(); i++) await sleep(10);
  assert.ok(ok(), what());
}

/** A site joined over a websocket the test can cut without a close frame (what kill -9 looks like: 1006). */
async function killableSite(server: SecureServer, identity: Identity, siteName: string) {
  let ws!: WebSocket;
  const client = clientFor(server, identity, {
    connect: () => new Promise((resolve, reject) => {
      ws = new WebSocket(server.url);
      ws.once('open', () => resolve(new WsTransport(ws, server.url)));
      ws.once('error', reject);
    }),
  });
  const session = await client.start();
  const welcome = await session.request({ type: 'join', siteName, capabilities: ['vote_histogram'], datasetHashes: { public_set: PUBLIC_SET.hash } });
  assert.equal(welcome.type, 'welcome');
  return { client, kill: () => ws.terminate() };
}

test('each joined site that goes away is logged once, with its close code and who is left; the run\'s own end is not', async () => {
  // min_sites 3: the run waits for a third site, so both departures happen during the run
  const h = await startRun({ min_sites: 3 });
  try {
    const a = await scriptedSite(h.server, siteA);
    const b = await killableSite(h.server, siteB, 'site-b');
    await until(() => h.log.some((l) => l.startsWith('site site-b joined')), () => h.log.join('\n'));
    b.kill();
    await until(() => h.log.some((l) => l.startsWith('site site-b left')), () => h.log.join('\n'));
    assert.deepEqual(h.log.filter((l) => l.startsWith('site site-b left')), ['site site-b left (1006): 1 still connected']);
    a.client.close('site stopping (signal)');
    await until(() => h.log.some((l) => l.startsWith('site site-a left')), () => h.log.join('\n'));
    assert.match(h.log.find((l) => l.startsWith('site site-a left'))!, /^site site-a left \(1000(: .*)?\): 0 still connected$/);
  } finally {
    await h.close();
  }

  // a run that ends for good closes every session itself (bye, 1000): no departure lines
  const done = await startRun({ rounds: 1 });
  try {
    await scriptedSite(done.server, siteA);
    await scriptedSite(done.server, siteB);
    const summary = await done.finish();
    assert.equal(summary.status, 'complete');
    done.aggregator.endRun(summary);
    await sleep(100);
    assert.deepEqual(done.log.filter((l) => / left \(/.test(l)), [], done.log.join('\n'));
  } finally {
    await done.close();
  }
});

test('join refusals are logged on the aggregator with their code, and a refused site is never logged as joined', async () => {
  const h = await startRun({ min_sites: 3 });
  try {
    const c1 = clientFor(h.server, siteA);
    const s1 = await c1.start();
    await assert.rejects(s1.request({ type: 'join', siteName: 'site-x', capabilities: [], datasetHashes: { public_set: PUBLIC_SET.hash } }), { code: 'E_SITE_NAME_MISMATCH' });
    c1.close('site done');
    const c2 = clientFor(h.server, siteB);
    const s2 = await c2.start();
    await assert.rejects(s2.request({ type: 'join', siteName: 'site-b', capabilities: [], datasetHashes: { public_set: 'sha256:beef' } }), { code: 'E_PUBLIC_SET_MISMATCH' });
    c2.close('site done');
    await sleep(50);
    assert.match(h.log.find((l) => l.startsWith('site site-a refused'))!, /^site site-a refused at join: E_SITE_NAME_MISMATCH: this site's key is allowlisted as "site-a", but it calls itself "site-x"; set name: site-a/);
    assert.match(h.log.find((l) => l.startsWith('site site-b refused'))!, /^site site-b refused at join: E_PUBLIC_SET_MISMATCH: the run's public set is test:public \(hash sha256:feed\); this site's public set hashes to sha256:beef: set public_set: test:public/);
    assert.deepEqual(h.log.filter((l) => / joined| left /.test(l)), [], h.log.join('\n'));
  } finally {
    await h.close();
  }
});

test('a site that refuses the run after its welcome (E_TEACHERS_MISMATCH) says so, and the aggregator logs why it left', async () => {
  const h = await startRun({ min_sites: 3, privacy: { epsilon: 1e9, delta: 1e-5, teachers_per_site: 2 } });
  try {
    const agent = { settings: { name: 'site-a' }, publicSet: PUBLIC_SET, ledger: new SiteLedger(), answeringTeachers: 1 } as unknown as SiteAgent;
    const client = clientFor(h.server, siteA);
    const site = new SiteClient(agent, client, PUBLIC_SET.spec);
    const failed = site.finished.then(() => assert.fail('the site should have stopped'), (e: Error & { code?: string }) => e);
    await client.start();
    assert.equal((await failed).code, 'E_TEACHERS_MISMATCH');
    client.close('site done');
    await until(() => h.log.some((l) => l.startsWith('site site-a left')), () => h.log.join('\n'));
    assert.match(h.log.find((l) => l.startsWith('site site-a left'))!, /^site site-a left \(1000: E_TEACHERS_MISMATCH: this site answers with 1 teacher\(s\); the run weights every site as 2: set teachers: 2 in its site\.yaml\): 0 still connected$/);
  } finally {
    await h.close();
  }
});
