// run.yaml validation: every mistake is one coded line naming the field (typos with a did-you-mean),
// limits that Node would otherwise break silently are refused, and every key is in docs/runs.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { validateRunConfig } from '../../../server/run-config.ts';
import { FedistillError } from '../../../shared/util/errors.ts';
import { disabledProtections } from '../../../shared/channel/connection-limits.ts';

const base = { run_id: 'r1', identity: 'agg.key', allowlist: 'allow.yaml', public_set: 'mnist:test[0:100]', strategy: { name: 'dsfl' }, privacy: { epsilon: 5 }, rounds: 3 };

function failure(raw: unknown): FedistillError {
  try { validateRunConfig(raw, '/tmp'); } catch (e) {
    assert.ok(e instanceof FedistillError, `not a FedistillError: ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return e;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
}

test('a misspelt key is refused with the key, a did-you-mean and the known keys', () => {
  const top = failure({ ...base, rouns: 3 });
  assert.equal(top.code, 'E_CONFIG_INVALID');
  assert.match(top.message, /^run\.rouns: is not a known setting \(did you mean rounds\?\)/);
  assert.match(failure({ ...base, strategy: { name: 'dsfl', querys_per_round: 3 } }).message, /strategy\.querys_per_round.*did you mean queries_per_round\?/);
  assert.match(failure({ ...base, privacy: { epsilon: 5, noise_multipler: 2 } }).message, /privacy\.noise_multipler.*did you mean noise_multiplier\?/);
  assert.match(failure({ ...base, listen: { prot: 1 } }).message, /listen\.prot.*did you mean port\?/);
  assert.match(failure({ ...base, strategy: { name: 'dsf' } }).message, /strategy\.name: must be one of pate, fedmd, dsfl, got "dsf" \(did you mean dsfl\?\)/);
});

test('a missing section says "is required"; wrong types and ranges name the field', () => {
  const { strategy: _s, ...noStrategy } = base;
  assert.equal(failure(noStrategy).message, 'strategy: is required');
  assert.match(failure({ ...base, strategy: 'dsfl' }).message, /^strategy: must be a mapping/);
  assert.match(failure({ ...base, rounds: '3' }).message, /^run\.rounds: must be a number, got "3"/);
  assert.match(failure({ ...base, quorum: 0 }).message, /^run\.quorum: must be ≥ 1/);
  assert.match(failure({ ...base, privacy: { epsilon: 5, delta: 2 } }).message, /^privacy\.delta: must be in \(0, 1\)/);
});

test('a port above 65535 is a config error, not an internal error at listen', () => {
  assert.match(failure({ ...base, listen: { port: 70_000 } }).message, /^listen\.port: must be ≤ 65535, got 70000/);
  assert.equal(validateRunConfig({ ...base, listen: { port: 65_535 } }).listen.port, 65_535);
});

test('timeouts past what a Node timer holds (~24.8 days) are refused: they would fire after 1 ms', () => {
  for (const key of ['round_timeout_s', 'straggler_grace_s', 'join_timeout_s']) {
    assert.match(failure({ ...base, [key]: 3_000_000 }).message, new RegExp(`^run\\.${key}: must be ≤ 2147483`));
  }
  const c = validateRunConfig({ ...base, round_timeout_s: 2_147_483 });
  assert.ok(c.roundTimeoutMs <= 2 ** 31 - 1);
});

/** The known keys a section lists when it refuses an unknown one. */
function knownKeys(raw: unknown): string[] {
  const m = /\(known: ([^)]+)\)/.exec(failure(raw).message);
  assert.ok(m, 'the error lists the known keys');
  return m[1]!.split(', ');
}

test('every run.yaml key is documented in docs/runs.md with its default', () => {
  const doc = readFileSync('docs/runs.md', 'utf8');
  const table = doc.slice(doc.indexOf('## run.yaml'), doc.indexOf('## site.yaml'));
  const sections: [string, unknown][] = [
    ['', { ...base, zz: 1 }], ['listen.', { ...base, listen: { zz: 1 } }], ['strategy.', { ...base, strategy: { name: 'dsfl', zz: 1 } }], ['privacy.', { ...base, privacy: { epsilon: 1, zz: 1 } }],
  ];
  for (const [prefix, raw] of sections) {
    for (const key of knownKeys(raw)) {
      // a row names `prefix.key`, or a section's keys (`listen.host`), or continues a row (`strategy.threshold`, `sigma1`)
      const row = table.split('\n').find((l) => l.startsWith('|') && (l.includes(`\`${prefix}${key}\``) || l.includes(`\`${prefix}${key}.`) ||
        (prefix !== '' && l.includes(`\`${prefix}`) && l.includes(`\`${key}\``))));
      assert.ok(row, `docs/runs.md does not document ${prefix}${key}`);
      assert.match(row!, /^\|[^|]+\|\s*\S[^|]*\|/, `${prefix}${key}: the default column is empty`);
    }
  }
});

test('connection_limits: snake_case channel options reach the server; a typo gets a did-you-mean, a bad value names the option', () => {
  const c = validateRunConfig({ ...base, connection_limits: { inbound_messages_per_second: 2000, inbound_bytes_per_second: Infinity, max_frame_bytes: 1 << 20 } }, '/tmp');
  assert.deepEqual(c.connectionLimits, { inboundMessagesPerSecond: 2000, inboundBytesPerSecond: Infinity, maxFrameBytes: 1 << 20 });
  assert.equal(validateRunConfig(base, '/tmp').connectionLimits, undefined);
  let e = failure({ ...base, connection_limits: { inbound_message_per_second: 2000 } });
  assert.equal(e.code, 'E_CONFIG_INVALID');
  assert.match(e.message, /connection_limits\.inbound_message_per_second.*did you mean inbound_messages_per_second/);
  e = failure({ ...base, connection_limits: { max_in_flight: 0 } });
  assert.equal(e.code, 'E_INVALID_PARAMETER');
  assert.match(e.message, /connection_limits\.max_in_flight: must be a positive integer/);
  e = failure({ ...base, connection_limits: { max_frame_bytes: 2 ** 30 } });
  assert.match(e.message, /connection_limits\.max_frame_bytes: must be at most 67108864/);
  // the byte burst must admit one frame of the frame limit
  e = failure({ ...base, connection_limits: { max_frame_bytes: 1 << 20, inbound_burst_bytes: 1000 } });
  assert.match(e.message, /connection_limits\.inbound_burst_bytes: 1000 bytes cannot admit one frame/);
});

test('a connection limit set to .inf is announced: one warning line per protection switched off', () => {
  const c = validateRunConfig({ ...base, connection_limits: { inbound_messages_per_second: Infinity, max_unsolicited_messages: Infinity, max_in_flight: 8 } }, '/tmp');
  assert.deepEqual(disabledProtections(c.connectionLimits), [
    'warning: connection_limits.inbound_messages_per_second is .inf: that protection is off for this side\'s peers',
    'warning: connection_limits.max_unsolicited_messages is .inf: that protection is off for this side\'s peers',
  ]);
  assert.deepEqual(disabledProtections(validateRunConfig(base, '/tmp').connectionLimits), []);
});
