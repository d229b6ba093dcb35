// An operator's first mistakes in a real deployment (separate processes on loopback): a site started
// before its aggregator, a site key missing from the allowlist, Ctrl-C on either side, no site joining.
// Each must say what went wrong and what to do, and stop with a status, never hang or exit silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../../cli/main.ts';
import { spawnFedistill, writeDeployment } from '../../simulations/local-deployment.ts';
import { encodePublicKey, readIdentityFile } from '../../shared/crypto/identity.ts';

async function deployment(run: Record<string, unknown> = {}): Promise<{ dir: string; runConfig: string; siteConfigs: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-hints-'));
  const files = await writeDeployment({
    dir, runId: 'r1', sites: 2,
    // a budget that pays both rounds (48.8): a run that cannot pay its next round ends at once, without waiting for sites
    run: { public_set: 'mnist:test[0:100]', strategy: { name: 'dsfl', queries_per_round: 10 }, privacy: { epsilon: 100 }, rounds: 2, quorum: 1, min_sites: 1, ...run },
    site: { public_set: 'mnist:test[0:100]', data: { dataset: 'mnist:train[0:100]' }, local: { epochs: 1 }, threads: 1 },
  });
  return { dir, ...files };
}

/** Resolves with the first stderr line of a spawned command that matches `re`. */
function lineWatcher(): { onLine: (l: string) => void; next: (re: RegExp) => Promise<string>; lines: string[] } {
  const lines: string[] = [];
  const waiting: { re: RegExp; resolve: (l: string) => void }[] = [];
  return {
    lines,
    onLine: (l) => {
      lines.push(l);
      for (const w of waiting.splice(0)) if (w.re.test(l)) w.resolve(l); else waiting.push(w);
    },
    next: (re) => new Promise((resolve) => {
      const seen = lines.find((l) => re.test(l));
      if (seen) resolve(seen); else waiting.push({ re, resolve });
    }),
  };
}

test('a site started first, then refused as not allowlisted: both sides say what to do; Ctrl-C stops each with status 1', async () => {
  const d = await deployment({ join_timeout_s: 60 });
  const procs: { kill: (sig?: NodeJS.Signals) => void }[] = [];
  try {
    // the allowlist holds only site-2: site-1's key is unknown to the aggregator
    const site2 = readIdentityFile(join(d.dir, 'keys', 'site-2.key'));
    writeFileSync(join(d.dir, 'allowlist.yaml'), stringify({ sites: { [encodePublicKey(site2.publicKey)]: 'site-2' } }));
    const siteLog = lineWatcher();
    const site = spawnFedistill('site-1', ['client', '--config', d.siteConfigs[0]!], siteLog.onLine);
    procs.push(site);
    assert.match(await siteLog.next(/nothing answers at ws:\/\/127\.0\.0\.1:\d+ yet/), /the aggregator is not started, or server\.url is wrong; this site keeps retrying/);

    const aggLog = lineWatcher();
    const agg = spawnFedistill('aggregator', ['server', '--config', d.runConfig], aggLog.onLine);
    procs.push(agg);
    const site1 = readIdentityFile(join(d.dir, 'keys', 'site-1.key'));
    const siteHint = await siteLog.next(/this site's key is not on the aggregator's allowlist/);
    assert.ok(siteHint.includes(encodePublicKey(site1.publicKey)), siteHint);
    assert.match(siteHint, /its name site-1 .* restarts `fedistill server` with the same config/);
    const aggHint = await aggLog.next(/is not on the allowlist \(/);
    assert.match(aggHint, /allowlist\.yaml\): if it is one of this run's sites, add its public key .* restart with the same config/);

    site.kill('SIGINT');
    const s = await site.done;
    assert.equal(s.code, 1, s.stderrTail);
    const { error, ...stopped } = s.summary as { error: { code: string } };
    assert.deepEqual(stopped, { ok: false, site: 'site-1', stopped: true, ledger: join(d.dir, 'site-1.ledger.jsonl') });
    assert.equal(error.code, 'E_INTERRUPTED');
    assert.match(s.stderrTail, /stopping \(signal\); every reply that left this site is in its ledger/);
    agg.kill('SIGINT');
    const a = await agg.done;
    assert.equal(a.code, 1, a.stderrTail);
    assert.deepEqual([a.summary.ok, a.summary.status, (a.summary.error as { code: string }).code], [false, 'stopped', 'E_INTERRUPTED']);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(d.dir, { recursive: true, force: true });
  }
});

test('no site joins within join_timeout_s: E_QUORUM_TIMEOUT names who is connected and what to do', async () => {
  const d = await deployment({ join_timeout_s: 1 });
  try {
    let err = '';
    const code = await runCli(['server', '--config', d.runConfig], { out: () => {}, err: (t) => { err += t + '\n'; } });
    assert.equal(code, 1, err);
    assert.match(err, /only 0 of 1 sites joined within 1 s \(connected: none\); start the missing sites' `fedistill client`.* restart with the same config: the run resumes \[E_QUORUM_TIMEOUT\]/);
  } finally { rmSync(d.dir, { recursive: true, force: true }); }
});

test('a site config given to `fedistill server` (or `privacy plan`), or a run config to `fedistill client`, names the command that takes it', async () => {
  const d = await deployment();
  try {
    const cli = async (args: string[]) => {
      let err = '';
      const code = await runCli(args, { out: () => {}, err: (t) => { err += t + '\n'; } });
      return { code, err };
    };
    const server = await cli(['server', '--config', d.siteConfigs[0]!]);
    assert.equal(server.code, 2, server.err);
    assert.match(server.err, /site-1\.yaml is a site config \(name and server, no run_id\): run it with `fedistill client --config .*site-1\.yaml`; `fedistill server` takes a run config .*\[E_CONFIG_INVALID\]/);
    const client = await cli(['client', '--config', d.runConfig]);
    assert.equal(client.code, 2, client.err);
    assert.match(client.err, /run\.yaml is a run config \(run_id, no name\): run it with `fedistill server --config .*run\.yaml`/);
    const plan = await cli(['privacy', 'plan', '--config', d.siteConfigs[0]!]);
    assert.equal(plan.code, 2, plan.err);
    assert.match(plan.err, /site-1\.yaml is a site config/);
    // a real typo in the right kind of file still gets its did-you-mean, not this hint
    const typoConfig = join(d.dir, 'typo.yaml');
    writeFileSync(typoConfig, readFileSync(d.runConfig, 'utf8').replace('rounds:', 'rouns:'));
    const typo = await cli(['server', '--config', typoConfig]);
    assert.equal(typo.code, 2, typo.err);
    assert.match(typo.err, /run\.rouns: is not a known setting \(did you mean rounds\?\)/);
  } finally { rmSync(d.dir, { recursive: true, force: true }); }
});

test('a server started on a run that had already ended tells the sites that reconnect that it is over, so they stop instead of retrying for ever', async () => {
  // a budget that cannot pay one round: the first server ends the run budget_exhausted at once, before any site
  const d = await deployment({ privacy: { epsilon: 0.01 }, join_timeout_s: 30 });
  const procs: { kill: (sig?: NodeJS.Signals) => void }[] = [];
  try {
    const first = spawnFedistill('aggregator', ['server', '--config', d.runConfig], () => {});
    procs.push(first);
    const f = await first.done;
    assert.equal(f.code, 0, f.stderrTail);
    assert.equal(f.summary.status, 'budget_exhausted');
    // restarted (as after a crash at the run's end): it says what it does, and a site that connects is told
    const aggLog = lineWatcher();
    const agg = spawnFedistill('aggregator', ['server', '--config', d.runConfig], aggLog.onLine);
    procs.push(agg);
    assert.match(await aggLog.next(/the run had already ended/), /already ended \(budget_exhausted\): telling the sites that reconnect in the next 30 s that it is over/);
    const siteLog = lineWatcher();
    const site = spawnFedistill('site-1', ['client', '--config', d.siteConfigs[0]!], siteLog.onLine);
    procs.push(site);
    const s = await site.done;
    assert.equal(s.code, 0, s.stderrTail);
    assert.equal(s.summary.rounds_digested, 0);
    // Ctrl-C ends the wait at once
    agg.kill('SIGINT');
    const a = await agg.done;
    assert.equal(a.summary.status, 'budget_exhausted', a.stderrTail);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(d.dir, { recursive: true, force: true });
  }
});
