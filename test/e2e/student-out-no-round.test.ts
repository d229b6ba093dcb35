// A site that digested no round of its run (it joined late, or its budget left it out) has no distilled
// student: the local-only model used to be written to student_out, replacing what an earlier run left there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../cli/main.ts';
import { writeDeployment } from '../../simulations/local-deployment.ts';
import { SecureServer } from '../../shared/channel/secure-server.ts';
import { loadAllowlist } from '../../shared/crypto/allowlist.ts';
import { readIdentityFile } from '../../shared/crypto/identity.ts';
import { loadRunConfig } from '../../server/run-config.ts';

test('client: a run that ends before the site digests a round leaves student_out as it was, and says so', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-student-none-'));
  const files = await writeDeployment({
    dir, runId: 'r1', sites: 1,
    run: { public_set: 'mnist:test[0:100]', strategy: { name: 'dsfl', queries_per_round: 10 }, privacy: { epsilon: 5 }, rounds: 2, quorum: 1 },
    site: { public_set: 'mnist:test[0:100]', data: { dataset: 'mnist:train[0:200]' }, local: { epochs: 1 } },
  });
  const run = loadRunConfig(files.runConfig);
  // the aggregator's end of the channel: welcomes the site, then ends the run at once (as one whose
  // budget cannot pay round 1 would), before any query or consensus
  const server = new SecureServer({ identity: readIdentityFile(run.identity), allowlist: loadAllowlist(run.allowlist), port: run.listen.port, host: '127.0.0.1' });
  server.on('session', (s) => s.on('message', (m) => {
    if (m.type !== 'join') return;
    s.send({ type: 'welcome', requestId: m.requestId, runId: 'r1', config: { rounds: 2, privacy: { noise_multiplier: 5, clip: 1 } } });
    setTimeout(() => { s.send({ type: 'bye', reason: 'run r1 ended: budget_exhausted' }); s.close(1000, 'run over'); }, 50);
  }));
  await server.listen();
  try {
    const student = join(dir, 'site-1-student.onnx');
    writeFileSync(student, 'an earlier run\'s student');
    let out = '', err = '';
    const code = await runCli(['client', '--config', files.siteConfigs[0]!, '--json'], { out: (t) => { out += t; }, err: (t) => { err += `${t}\n`; } });
    assert.equal(code, 0, err);
    assert.equal(readFileSync(student, 'utf8'), 'an earlier run\'s student', 'not replaced by the local-only model');
    assert.match(err, /no round was digested in this run: the student was not written \(.*site-1-student\.onnx keeps what it held\)/);
    const j = JSON.parse(out);
    assert.equal(j.rounds_digested, 0);
    assert.equal(j.student_out, undefined);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
