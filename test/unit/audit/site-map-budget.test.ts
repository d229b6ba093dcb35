// fitSiteMap: per-site maps cut to an audit entry's byte budget, smallest sites first, the same on every replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fitSiteMap, siteValueDigest } from '../../../shared/audit/site-map-budget.ts';
import { validateReleaseData } from '../../../shared/audit/release-data.ts';
import { canonicalJson } from '../../../shared/audit/canonical-json.ts';

const big = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`metric_${i}`, i / 7]));

test('everything fits: the map is kept whole and nothing is named', () => {
  const map = { a: { accuracy: 0.5 }, b: { accuracy: 0.7 } };
  const fitted = fitSiteMap(map, 1000);
  assert.deepEqual({ ...fitted.kept }, map);
  assert.deepEqual({ ...fitted.omitted }, {});
});

/** Bytes of a fitted map as the entry holds it: the kept values and the digests of the rest. */
const entryBytes = (f: { kept: object; omitted: object }) => Buffer.byteLength(canonicalJson(f.kept)) + Buffer.byteLength(canonicalJson(f.omitted));

test('over the budget: the smallest sites are kept, the largest named with size and SHA-256, and kept plus digests fit', () => {
  const map = { huge: big(40), small: big(6), mid: big(9), large: big(20) };
  const expected = { kept: { small: map.small, mid: map.mid }, omitted: { large: siteValueDigest(map.large), huge: siteValueDigest(map.huge) } };
  const budget = entryBytes(expected) + 10;
  const fitted = fitSiteMap(map, budget);
  assert.deepEqual(Object.keys(fitted.kept).sort(), ['mid', 'small']);
  assert.deepEqual(Object.keys(fitted.omitted).sort(), ['huge', 'large']);
  assert.ok(entryBytes(fitted) <= budget, `${entryBytes(fitted)} ≤ ${budget}`);
  // each site left out is named with the size and SHA-256 of its canonical JSON, so its value kept elsewhere can be matched
  assert.deepEqual({ ...fitted.omitted.large }, { bytes: Buffer.byteLength(canonicalJson(map.large)), sha256: createHash('sha256').update(canonicalJson(map.large)).digest('hex') });
  assert.ok(fitted.omitted.huge!.bytes > fitted.omitted.large!.bytes);
  // one byte less and the next largest kept value (mid) becomes a digest too
  assert.deepEqual(Object.keys(fitSiteMap(map, entryBytes(expected) - 1).kept), ['small']);
});

test('a later small site is still kept after a large one is left out, and ties go by name whatever the order received', () => {
  const one = big(8);
  const budget = entryBytes({ kept: { s1: one, s2: one }, omitted: { s3: siteValueDigest(one), z: siteValueDigest(big(30)) } }) + 4;
  const forward = fitSiteMap({ s3: one, s1: one, s2: one, z: big(30) }, budget);
  const reverse = fitSiteMap({ z: big(30), s2: one, s1: one, s3: one }, budget);
  assert.deepEqual(Object.keys(forward.kept).sort(), ['s1', 's2']);
  assert.deepEqual(Object.keys(forward.omitted).sort(), ['s3', 'z']);
  assert.equal(canonicalJson(forward), canonicalJson(reverse));
});

test('values smaller than their digest are kept first: many small metrics maps cost less whole than as digests', () => {
  const map = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`site-${i}`, { accuracy: i / 50 }]));
  const whole = Buffer.byteLength(canonicalJson(map));
  const fitted = fitSiteMap(map, whole + 4);
  assert.equal(Object.keys(fitted.kept).length, 50);
});

test('site names are data: "__proto__" stays a key of either map', () => {
  const map = JSON.parse('{"__proto__": {"accuracy": 1}, "b": {"accuracy": 0}}') as Record<string, Record<string, number>>;
  const fitted = fitSiteMap(map, 1000);
  assert.ok(Object.hasOwn(fitted.kept, '__proto__'));
  assert.deepEqual(fitted.kept['__proto__'], { accuracy: 1 });
  const large = JSON.parse(`{"__proto__": ${JSON.stringify(big(10))}, "b": ${JSON.stringify(big(10))}}`) as Record<string, Record<string, number>>;
  const none = fitSiteMap(large, 2);
  assert.deepEqual(Object.keys(none.omitted).sort(), ['__proto__', 'b']);
});

test('a release\'s site_events_omitted is checked: {bytes, sha256} per site, and no site both copied and omitted', () => {
  const base = { privacy_event: { type: 'gaussian', noise_multiplier: 2 }, scopes: ['run:r'], epsilon_after: { 'run:r': 1 } };
  const digest = siteValueDigest({ type: 'gaussian', noise_multiplier: 3 });
  const ok = validateReleaseData({ ...base, site_events: { a: { type: 'gaussian', noise_multiplier: 1 } }, site_events_omitted: { b: digest } });
  assert.deepEqual({ ...ok.site_events_omitted }, { b: digest });
  const refused = (data: Record<string, unknown>, pattern: RegExp) => assert.throws(() => validateReleaseData({ ...base, ...data }), pattern);
  refused({ site_events_omitted: { b: { bytes: 10 } } }, /site_events_omitted\["b"\]: must be \{bytes, sha256\}/);
  refused({ site_events_omitted: { b: { bytes: -1, sha256: digest.sha256 } } }, /bytes: must be an integer ≥ 0/);
  refused({ site_events_omitted: { b: { bytes: 1, sha256: 'ABC' } } }, /sha256: must be 64 lower-case hex digits/);
  refused({ site_events_omitted: [] }, /must map site names/);
  refused({ site_events: { b: { type: 'gaussian', noise_multiplier: 1 } }, site_events_omitted: { b: digest } }, /also in site_events/);
});
