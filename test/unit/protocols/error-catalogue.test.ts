// The error catalogue in code and in docs/errors.md say the same thing; close codes are unique and in range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CHANNEL_ERRORS, ChannelError, codeForClose, type ChannelErrorCode } from '../../../protocols/error-catalogue.ts';

test('close codes are unique and in 4000–4999 (1009 only for oversize frames)', () => {
  const seen = new Map<number, string>();
  for (const [code, e] of Object.entries(CHANNEL_ERRORS)) {
    if (e.close === null) continue;
    assert.ok(!seen.has(e.close), `${code} reuses ${e.close} of ${seen.get(e.close)}`);
    seen.set(e.close, code);
    assert.ok((e.close >= 4000 && e.close <= 4999) || (code === 'E_FRAME_TOO_LARGE' && e.close === 1009), code);
    assert.equal(codeForClose(e.close), code);
    assert.equal(new ChannelError(code as ChannelErrorCode, 'x').closeCode, e.close, 'a ChannelError carries its catalogue close code');
  }
  assert.equal(new ChannelError('E_FRAME_AUTH', 'x').closeCode, 4020);
});

test('docs/errors.md lists every code with its close code', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, e] of Object.entries(CHANNEL_ERRORS)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\``));
    assert.ok(row, `docs/errors.md has no row for ${code}`);
    assert.ok(row.includes(`| ${e.close ?? '—'} |`), `docs/errors.md row for ${code} should give close code ${e.close ?? '—'}: ${row}`);
  }
});
