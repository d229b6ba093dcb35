// Peer-controlled text in the operator log: control characters become visible escapes, everything else is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeControlChars } from '../../../shared/util/log-text.ts';

test('newlines, carriage returns, tabs and terminal escapes are escaped; the result is one printable line', () => {
  assert.equal(escapeControlChars('a\nb\rc\td'), 'a\\nb\\rc\\td');
  assert.equal(escapeControlChars('\u001b[31mred\u001b[0m\u0007'), '\\u001b[31mred\\u001b[0m\\u0007');
  assert.equal(escapeControlChars('\u0000\u007f\u0085\u009b'), '\\u0000\\u007f\\u0085\\u009b');
  // Unicode line breaks and bidi overrides could split or reorder what the operator reads
  assert.equal(escapeControlChars('x\u2028y\u2029z\u202eevil\u2066'), 'x\\u2028y\\u2029z\\u202eevil\\u2066');
  const all = Array.from({ length: 0xa0 }, (_, i) => String.fromCharCode(i)).join('');
  assert.doesNotMatch(escapeControlChars(all), /[\u0000-\u001f\u007f-\u009f]/);
});

test('ordinary text, Unicode included, is left as it is', () => {
  const s = 'round 3/10: site-a invalid (E_REPLY_INVALID: reply shape 4×10 votes) ε = 1.25, Zürich 東京 \\n';
  assert.equal(escapeControlChars(s), s);
});
