// The privacy event schema: valid events pass unchanged, bad ones fail with an error naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PRIVACY_EVENT_SCHEMA_VERSION, validatePrivacyEvent, validatePrivacyEventList,
} from '../../../shared/privacy/events.ts';
import { epsilonFromEvents, RdpAccountant } from '../../../shared/privacy/rdp-accountant.ts';
import { UsageError } from '../../../shared/util/errors.ts';

function rejects(json: unknown, pattern: RegExp, code = 'E_INVALID_PRIVACY_EVENT'): void {
  assert.throws(() => validatePrivacyEvent(json), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  });
}

test('every event type validates and round-trips through JSON', () => {
  const events = [
    { type: 'gaussian', noise_multiplier: 1.1, count: 3 },
    { type: 'subsampled_gaussian', sampling_rate: 0.01, noise_multiplier: 1.3, count: 100 },
    { type: 'laplace', scale: 2 },
    { type: 'pure', epsilon: 0.5 },
    { type: 'pate_threshold', sigma: 150, threshold: 200, max_vote: 220 },
    { type: 'pate_threshold', sigma: 150 },
    { type: 'pate_gnmax', sigma: 40, votes: [200, 30, 20] },
    { type: 'pate_gnmax', sigma: 40 },
    { type: 'composed', count: 2, events: [{ type: 'gaussian', noise_multiplier: 2 }, { type: 'laplace', scale: 1 }] },
  ];
  for (const e of events) assert.deepEqual(validatePrivacyEvent(JSON.parse(JSON.stringify(e))), e);
  assert.equal(PRIVACY_EVENT_SCHEMA_VERSION, 1);
});

test('a ledger replays to the same ε after a JSON round trip', () => {
  const ledger = [
    { type: 'subsampled_gaussian', sampling_rate: 0.02, noise_multiplier: 1.0, count: 500 },
    { type: 'pate_gnmax', sigma: 40, votes: [200, 30, 20], count: 10 },
    { type: 'laplace', scale: 5 },
  ];
  const a = new RdpAccountant();
  for (const e of ledger) a.composeJson(e);
  const b = new RdpAccountant();
  for (const e of validatePrivacyEventList(JSON.parse(JSON.stringify({ schema_version: 1, events: ledger })))) b.compose(e);
  assert.equal(a.getEpsilon(1e-5).epsilon, b.getEpsilon(1e-5).epsilon);
});

test('bad input: errors name the field', () => {
  rejects({ type: 'gaussian', noise_multiplier: 0 }, /event\.noise_multiplier: must be > 0/);
  rejects({ type: 'gaussian', noise_multiplier: -1 }, /noise_multiplier/);
  rejects({ type: 'gaussian', noise_multiplier: 'NaN' }, /noise_multiplier: must be a finite number/);
  rejects({ type: 'subsampled_gaussian', sampling_rate: 1.5, noise_multiplier: 1 }, /sampling_rate: must be in \[0, 1\]/);
  rejects({ type: 'subsampled_gaussian', sampling_rate: -0.1, noise_multiplier: 1 }, /sampling_rate/);
  rejects({ type: 'laplace', scale: 0 }, /scale: must be > 0/);
  rejects({ type: 'gaussian', noise_multiplier: 1, count: 0 }, /count: must be a positive integer/);
  rejects({ type: 'gaussian', noise_multiplier: 1, count: 1.5 }, /count/);
  rejects({ type: 'gaussian', noise_multiplier: 1, sigma: 3 }, /event\.sigma: is not a field/);
  rejects({ type: 'gaussian' }, /noise_multiplier: is required/);
  rejects({ type: 'pate_gnmax', sigma: 40, votes: [3, -1] }, /votes\[1\]: votes must be ≥ 0/);
  rejects({ type: 'pate_gnmax', sigma: 40, votes: [3, null] }, /votes\[1\]: must be a finite number/);
  rejects({ type: 'pate_threshold', sigma: 40, threshold: 3 }, /max_vote/);
  rejects({ type: 'composed', events: [{ type: 'gaussian', noise_multiplier: -2 }] }, /event\.events\[0\]\.noise_multiplier/);
  rejects({ type: 'gausian', noise_multiplier: 1 }, /unknown event type "gausian"/, 'E_UNKNOWN_EVENT_TYPE');
  rejects({ type: 'gaussian', noise_multiplier: 1, schema_version: 2 }, /schema_version/, 'E_EVENT_SCHEMA_VERSION');
  rejects([1, 2], /must be a JSON object/);
  assert.throws(() => validatePrivacyEventList({ events: [] }), /schema_version/);
  assert.throws(() => validatePrivacyEventList([{ type: 'laplace', scale: 1 }, { type: 'x' }]), /events\[1\]\.type/);
});

test('NaN and ∞ are rejected (they cannot come from JSON, but can from code)', () => {
  rejects({ type: 'gaussian', noise_multiplier: NaN }, /finite/);
  rejects({ type: 'pure', epsilon: Infinity }, /finite/);
  rejects({ type: 'pate_gnmax', sigma: 1, votes: [1, Infinity] }, /votes\[1\]/);
});

test('the library\'s epsilonFromEvents and compose refuse what the CLI refuses: a fractional or zero count, a misspelt field, one event given as a list', () => {
  const ten = { type: 'gaussian', noise_multiplier: 1, count: 10 } as const;
  const code = { code: 'E_INVALID_PRIVACY_EVENT' };
  // a fraction or 0 charged less than one release, without a word
  for (const count of [0.01, 0, -1]) {
    assert.throws(() => epsilonFromEvents([ten, { ...ten, count } as never], 1e-5), { ...code, message: /^events\[1\]\.count: must be a positive integer/ });
    assert.throws(() => new RdpAccountant().compose({ ...ten, count } as never), { ...code, message: /count × times must be a positive integer/ });
  }
  assert.throws(() => new RdpAccountant().compose(ten, 0.5), { ...code, message: /got 10 × 0\.5$/ });
  // nor inside a composed event that bypassed validation
  for (const count of [0.01, 0, -0.5]) {
    assert.throws(() => new RdpAccountant().compose({ type: 'composed', events: [ten, { ...ten, count } as never] }), { ...code, message: /child count must be a positive integer/ });
  }
  // a misspelt field is named (it was E_NO_FINITE_ORDER, "use more noise")
  assert.throws(() => epsilonFromEvents([{ type: 'gaussian', noise_multipler: 1 } as never], 1e-5), { ...code, message: /^events\[0\]\.noise_multipler: is not a field of a "gaussian" event/ });
  // valid events charge as before
  const acc = new RdpAccountant().compose(ten);
  assert.equal(epsilonFromEvents([ten], 1e-5).epsilon, acc.getEpsilon(1e-5).epsilon);
  // one event where a list is expected says so, instead of asking for a schema_version
  assert.throws(() => validatePrivacyEventList({ type: 'gaussian', noise_multiplier: 2, count: 100 }),
    { ...code, message: /^events: is one event \(type "gaussian"\); .*wrap the event in \[ \]/ });
});
