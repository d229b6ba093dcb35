// site.yaml validation: typos at any level are refused with a did-you-mean (they were silently
// ignored), wrong types and ranges name the field, and every key is documented in docs/runs.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSiteConfig } from '../../../client/site-config.ts';
import { checkSiteOutputs } from '../../../client/run-site.ts';
import { FedistillError } from '../../../shared/util/errors.ts';

const base = { name: 's1', identity: 's.key', server: { url: 'ws://127.0.0.1:7700', public_key: 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=' }, data: { dataset: 'mnist:train[0:100]' }, public_set: 'mnist:test[0:100]' };

function failure(raw: unknown): FedistillError {
  try { validateSiteConfig(raw, '/tmp'); } catch (e) {
    assert.ok(e instanceof FedistillError, `not a FedistillError: ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/);
    return e;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
}

test('a misspelt key at any level is refused with a did-you-mean, not ignored', () => {
  const top = failure({ ...base, techers: 5 });
  assert.equal(top.code, 'E_CONFIG_INVALID');
  assert.match(top.message, /^site\.techers: is not a known setting \(did you mean teachers\?\)/);
  assert.match(failure({ ...base, local: { epoch: 5 } }).message, /^local\.epoch: .*did you mean epochs\?/);
  assert.match(failure({ ...base, digest: { privatemix: 5 } }).message, /^digest\.privatemix: .*did you mean private_mix\?/);
  assert.match(failure({ ...base, policy: { local_noise: 1 } }).message, /^policy\.local_noise: /);
  assert.match(failure({ ...base, server: { ...base.server, publickey: 'k' } }).message, /^server\.publickey: .*did you mean public_key\?/);
  assert.match(failure({ ...base, data: { dataset: 'mnist:train', partition: { scheme: 'iid', clients: 2, index: 0, alfa: 1 } } }).message, /^data\.partition\.alfa: .*did you mean alpha\?/);
  assert.match(failure({ ...base, policy: { competence: { epoch: 2 } } }).message, /^policy\.competence\.epoch: .*did you mean epochs\?/);
});

test('a section that is not a mapping, or data given twice, is an error rather than silent defaults', () => {
  assert.match(failure({ ...base, local: 5 }).message, /^local: must be a mapping, got 5/);
  assert.match(failure({ ...base, data: { dataset: 'mnist:train', file: 'a.csv' } }).message, /^data: give data\.dataset or data\.file, not both/);
  assert.match(failure({ ...base, data: { dataset: 'mnist:train', classes: 3 } }).message, /^data\.classes: is used only with data\.file/);
  assert.match(failure({ ...base, data: undefined }).message, /^data\.dataset: is required/);
});

test('out-of-range numbers and unknown names are refused with the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ teachers: 1.5 }, /^site\.teachers: must be an integer/],
    [{ teachers: 0 }, /^site\.teachers: must be ≥ 1/],
    [{ local: { batch: 0 } }, /^local\.batch: must be ≥ 1/],
    [{ local: { lr: -1 } }, /^local\.lr: must be > 0/],
    [{ local: { epochs: -1 } }, /^local\.epochs: must be ≥ 0/],
    [{ local: { optimizer: 'sgdd' } }, /^local\.optimizer: must be one of sgd, adam, adamw, got "sgdd" \(did you mean sgd\?\)/],
    [{ digest: { temperature: 0 } }, /^digest\.temperature: must be ≥ 0.000001, got 0/],
    [{ policy: { clip: 0 } }, /^policy\.clip: must be > 0/],
    [{ policy: { local_noise_multiplier: -1 } }, /^policy\.local_noise_multiplier: must be ≥ 0/],
    [{ device: 'gpu' }, /^site\.device: must be one of cpu, webgpu, cuda, auto/],
    [{ threads: 0 }, /^site\.threads: must be ≥ 1/],
    [{ seed: 'x' }, /^site\.seed: must be a number/],
    [{ name: 'site a' }, /^site\.name: must be 1–64 letters/],
    [{ server: { url: 'http://x', public_key: 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=' } }, /^server\.url: must be a ws:\/\/ or wss:\/\/ address/],
    [{ server: { url: 'ws://x', public_key: 'notbase64' } }, /^server\.public_key: "notbase64" is not a base64 Ed25519 public key .*keys show/],
    [{ data: { dataset: 'mnist:train', partition: { scheme: 'iid', clients: 3, index: 3 } } }, /^data\.partition\.index: must be ≤ 2/],
    [{ data: { dataset: 'mnist:train', partition: { scheme: 'dirichlet-ish', clients: 3, index: 0 } } }, /^data\.partition\.scheme: must be one of iid, dirichlet/],
  ];
  for (const [over, why] of cases) assert.match(failure({ ...base, ...over }).message, why, JSON.stringify(over));
  // what the e2e and `fedistill start` write is still accepted
  const ok = validateSiteConfig({ ...base, teachers: 10, threads: 1, local: { epochs: 2, batch: 64, lr: 1e-3, optimizer: 'adam' }, digest: { epochs: 3, revisit_epochs: 0, temperature: 1, private_mix: 200 },
    data: { dataset: 'mnist:train', partition: { scheme: 'dirichlet', alpha: 0.5, clients: 5, index: 4, seed: 1 } }, ledger: 'l.jsonl', student_out: 's.onnx', eval_set: 'mnist:test[0:10]' }, '/tmp');
  assert.equal(ok.settings.teachers, 10);
  assert.equal(ok.data.partition!.index, 4);
  assert.equal(ok.ledger, '/tmp/l.jsonl');
});

test('every site.yaml key is documented in docs/runs.md', () => {
  const doc = readFileSync('docs/runs.md', 'utf8');
  const table = doc.slice(doc.indexOf('## site.yaml'), doc.indexOf('## Crashes and resume'));
  const sections: [string, unknown][] = [
    ['', { ...base, zz: 1 }], ['server.', { ...base, server: { zz: 1 } }], ['data.', { ...base, data: { zz: 1 } }],
    ['data.partition.', { ...base, data: { dataset: 'm', partition: { zz: 1 } } }], ['local.', { ...base, local: { zz: 1 } }],
    ['digest.', { ...base, digest: { zz: 1 } }], ['policy.', { ...base, policy: { zz: 1 } }], ['policy.competence.', { ...base, policy: { competence: { zz: 1 } } }],
  ];
  for (const [prefix, raw] of sections) {
    const known = /\(known: ([^)]+)\)/.exec(failure(raw).message)![1]!.split(', ');
    for (const key of known) {
      const row = table.split('\n').find((l) => l.startsWith('|') && (l.includes(`\`${prefix}${key}\``) || l.includes(`\`${prefix}${key}.`) ||
        (prefix !== '' && l.includes(`\`${prefix.slice(0, -1)}\``) && l.includes(`\`${key}\``)) || (prefix !== '' && l.includes(`\`${prefix}`) && l.includes(`\`${key}\``))));
      assert.ok(row, `docs/runs.md does not document ${prefix}${key}`);
    }
  }
});

test('a ledger or student_out the site cannot write fails before training, naming the path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-site-out-'));
  try {
    const c = validateSiteConfig({ ...base, ledger: 'no-such-folder/s1.ledger.jsonl' }, dir);
    assert.throws(() => checkSiteOutputs(c), (e: FedistillError) => e.code === 'E_LEDGER_WRITE' && e.message.includes('no-such-folder'));
    const d = validateSiteConfig({ ...base, student_out: 'out/student.onnx' }, dir);
    assert.throws(() => checkSiteOutputs(d), (e: FedistillError) => e.code === 'E_FILE_WRITE' && /folder .*out does not exist/.test(e.message));
    mkdirSync(join(dir, 'out'));
    checkSiteOutputs(d);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('connection_limits in site.yaml: what the site accepts from the aggregator, checked like run.yaml', () => {
  assert.deepEqual(validateSiteConfig({ ...base, connection_limits: { max_unsolicited_messages: 64 } }, '/tmp').connectionLimits, { maxUnsolicitedMessages: 64 });
  const e = failure({ ...base, connection_limits: { max_unsolicited: 64 } });
  assert.equal(e.code, 'E_CONFIG_INVALID');
  assert.match(e.message, /did you mean max_unsolicited_messages/);
});

test('a partition parameter the scheme does not read (alpha under iid, shards under dirichlet) is refused, not ignored', () => {
  const part = (p: Record<string, unknown>) => ({ ...base, data: { dataset: 'mnist:train[0:100]', partition: { clients: 2, index: 0, ...p } } });
  assert.match(failure(part({ scheme: 'iid', alpha: 0.5 })).message, /^data\.partition\.alpha: is not used by scheme iid \(iid takes no parameters; dirichlet takes alpha\): remove it, or set scheme: dirichlet/);
  assert.match(failure(part({ scheme: 'dirichlet', alpha: 0.5, shards: 4 })).message, /^data\.partition\.shards: is not used by scheme dirichlet/);
  for (const p of [{ scheme: 'dirichlet', alpha: 0.5 }, { scheme: 'shards', shards: 4 }, { scheme: 'iid', seed: 3 }]) {
    assert.equal(validateSiteConfig(part(p), '/tmp').settings.name, 's1', JSON.stringify(p));
  }
});

test('private data that shares samples with the public set or the eval set is refused, naming the shared range', () => {
  const pub = failure({ ...base, data: { dataset: 'mnist:train[0:1000]' }, public_set: 'mnist:train[900:1100]' });
  assert.equal(pub.code, 'E_INVALID_PARAMETER');
  assert.match(pub.message, /^public_set: mnist:train\[900:1100\] shares mnist:train\[900:1000\] with data\.dataset mnist:train\[0:1000\]: this site's answers on public samples are released/);
  const ev = failure({ ...base, data: { dataset: 'mnist:train', partition: { scheme: 'iid', clients: 2, index: 0 } }, eval_set: 'mnist:train[-500:]' });
  assert.match(ev.message, /^eval_set: mnist:train\[-500:\] shares mnist:train\[59500:60000\] with data\.dataset mnist:train: the local models train on those samples/);
  // disjoint ranges of one split, and other splits, are fine
  validateSiteConfig({ ...base, data: { dataset: 'mnist:train[0:1000]' }, public_set: 'mnist:train[1000:1200]', eval_set: 'mnist:test[0:500]' }, '/tmp');
});

test('digest.temperature is refused outside [1e-6, 1e6] when the file is read, not at the first distillation step', () => {
  assert.match(failure({ ...base, digest: { temperature: 1e-7 } }).message, /^digest\.temperature: must be ≥ 0\.000001, got 1e-7$/);
  assert.match(failure({ ...base, digest: { temperature: 2e6 } }).message, /^digest\.temperature: must be ≤ 1000000, got 2000000$/);
  assert.equal(validateSiteConfig({ ...base, digest: { temperature: 1e-6 } }, '/tmp').settings.digest.temperature, 1e-6);
});
