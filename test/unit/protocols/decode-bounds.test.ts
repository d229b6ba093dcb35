// Bounds the codec and validators enforce on hostile payloads: oversized maps, labels outside the class range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode as rawPack } from 'msgpackr';
import { decodeMessage, encodeMessage } from '../../../protocols/codec.ts';
import { FIELD_LIMITS } from '../../../protocols/limits.ts';
import { validateSessionMessage } from '../../../protocols/validators.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';

test('a map with more entries than maxDecodedMapEntries is refused (E_MSG_TOO_LARGE) before it is copied', () => {
  const values = new Map(Array.from({ length: FIELD_LIMITS.maxDecodedMapEntries + 1 }, (_, i) => [`k${i}`, i] as const));
  const bytes = rawPack(new Map<string, unknown>([['type', 'metrics'], ['v', [1, 0]], ['round', 0], ['values', values]]));
  assert.throws(() => decodeMessage(bytes), { code: 'E_MSG_TOO_LARGE' });
  const fits = rawPack(new Map<string, unknown>([['type', 'metrics'], ['v', [1, 0]], ['round', 0], ['values', new Map([['a', 1]])]]));
  assert.deepEqual((decodeMessage(fits) as { values: unknown }).values, { a: 1 });
});

test('consensus labels must be class ids below cols (or −1)', () => {
  const consensus = (labels: number[]) => decodeMessage(encodeMessage({ type: 'consensus', v: PROTOCOL_VERSION, round: 0, indices: Uint32Array.of(1, 2), rows: 2, cols: 3, labels: Int32Array.from(labels) }));
  assert.equal(validateSessionMessage(consensus([2, -1])).type, 'consensus');
  assert.throws(() => validateSessionMessage(consensus([3, 0])), { code: 'E_MSG_INVALID', message: /labels/ });
  assert.throws(() => validateSessionMessage(consensus([0, -2])), { code: 'E_MSG_INVALID', message: /labels/ });
});
