// escapeHtml: names and messages in the report pages and SVG charts never become markup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml } from '../../../shared/util/escape-html.ts';

test('escapeHtml escapes the five characters that can open markup or close an attribute value', () => {
  assert.equal(escapeHtml(`<b title="x" data-a='y'>A & B</b>`), '&lt;b title=&quot;x&quot; data-a=&#39;y&#39;&gt;A &amp; B&lt;/b&gt;');
  assert.equal(escapeHtml('&lt;'), '&amp;lt;', 'an entity is escaped again, not passed through');
  assert.equal(escapeHtml('ε = 1.5, site-a'), 'ε = 1.5, site-a', 'other text is unchanged');
});
