// Config text nested thousands of [ or { deep is refused before the YAML parser sees it: under the size cap (4 MiB then) the
// parser used to spend ~30 s and 2.3 GB tokenising such a file before it overflowed, and a second one aborted Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CONFIG_BYTES, MAX_FLOW_DEPTH, MAX_NESTING, parseConfigYaml, readYamlFile } from '../../../shared/util/yaml-file.ts';
import { MAX_ALLOWLIST_BYTES, loadAllowlist } from '../../../shared/crypto/allowlist.ts';

const nested = (n: number, open = '[', close = ']') => `x: ${open.repeat(n)}${close.repeat(n)}\n`;

test('flow nesting up to the limit parses; one level more is refused with the depth, brackets in strings and comments counted', () => {
  assert.deepEqual(parseConfigYaml('a: [1, {b: [2, 3]}]  # [ok]\n'), { a: [1, { b: [2, 3] }] });
  assert.ok(parseConfigYaml(nested(MAX_FLOW_DEPTH)));
  assert.throws(() => parseConfigYaml(nested(MAX_FLOW_DEPTH + 1)), { message: `not valid YAML for fedistill: its [ and { nest ${MAX_FLOW_DEPTH + 1} levels deep, more than ${MAX_FLOW_DEPTH}` });
  assert.throws(() => parseConfigYaml(nested(MAX_FLOW_DEPTH + 1, '{"k": ', '}')), /nest 101 levels deep/);
  // a quote cannot hide brackets from the count (a plain scalar's apostrophe is not a quote in YAML)
  assert.throws(() => parseConfigYaml(`a: don't ${'['.repeat(500)}`), /nest 500 levels deep/);
  assert.throws(() => parseConfigYaml('a: [1, 2'), /^Error: not valid YAML: /);
});

test('a config or allowlist file of nested brackets under the size cap is refused at once (E_CONFIG_INVALID, E_ALLOWLIST_INVALID)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-yaml-depth-'));
  try {
    const file = join(dir, 'run.yaml');
    const n = Math.floor((MAX_CONFIG_BYTES - 8) / 2);
    writeFileSync(file, nested(n)); // refused by a scan; the parser took about 30 s on it and said only that its stack overflowed
    assert.throws(() => readYamlFile(file, 'run config'), { code: 'E_CONFIG_INVALID', message: `${file} is not valid YAML for fedistill: its [ and { nest ${n} levels deep, more than ${MAX_FLOW_DEPTH}` });
    assert.throws(() => loadAllowlist(file), { code: 'E_ALLOWLIST_INVALID', message: new RegExp(`^allowlist ${file} is not valid YAML for fedistill: its \\[ and \\{ nest ${n} levels`) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('block nesting without brackets ("- - - x", or a sequence at its key\'s indentation) is refused before the parser overflows its stack', () => {
  // "- " 1,000 times is 2 KB: the parser overflowed on it, and a second such text in one process aborted Node
  for (let k = 0; k < 3; k++) {
    assert.throws(() => parseConfigYaml(`${'- '.repeat(1000)}x\n`), { message: `not valid YAML for fedistill: its collections nest about 1001 levels deep (indentation, "- " and "? " with [ and {), more than ${MAX_NESTING}` });
  }
  // "a:\n- b:\n  - c:\n    - …": two levels (a mapping and a sequence) per two columns of indentation
  const stair = (n: number) => `k0:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(2 * i)}- k${i + 1}:\n`).join('')}${' '.repeat(2 * n + 2)}x: 1\n`;
  assert.throws(() => parseConfigYaml(stair(400)), /collections nest about 40\d levels deep/);
  assert.throws(() => parseConfigYaml(`a:\n  ${'? '.repeat(200)}x\n`), /collections nest about 20\d levels deep/);
  // within the limits, they parse (brackets deep inside a sequence too), as every real config does
  assert.equal(JSON.stringify(parseConfigYaml(stair(3))), '{"k0":[{"k1":[{"k2":[{"k3":{"x":1}}]}]}]}');
  assert.ok(parseConfigYaml(`${'- '.repeat(MAX_NESTING - 1)}x\n`));
  assert.ok(parseConfigYaml(`a:\n  ${'- '.repeat(40)}${'['.repeat(MAX_FLOW_DEPTH)}${']'.repeat(MAX_FLOW_DEPTH)}\n`));
  assert.deepEqual(parseConfigYaml('run_id: r1\nsites:\n  - name: a\n    data: { dataset: "mnist:train[0:100]" }\n  # a comment\n\n  - name: b\n'), { run_id: 'r1', sites: [{ name: 'a', data: { dataset: 'mnist:train[0:100]' } }, { name: 'b' }] });
});

test('a key repeated in one mapping is refused (checked in one pass, not the parser\'s pairwise check); aliases stay capped', () => {
  for (const [text, key] of [['a: 1\na: 2\n', 'a'], ['a: 1\nb: {c: 1, c: 2}\n', 'c'], ['- a: 1\n  a: 2\n', 'a'], ['x:\n  "y": 1\n  y: 2\n', 'y']] as const) {
    assert.throws(() => parseConfigYaml(text), { message: `not valid YAML: Map keys must be unique; "${key}" appears twice in one mapping` }, text);
  }
  // the same key in two mappings, and 1 beside "1" (two keys to YAML, as before), are not repeats
  assert.deepEqual(parseConfigYaml('a: {k: 1}\nb: {k: 2}\n'), { a: { k: 1 }, b: { k: 2 } });
  assert.deepEqual(parseConfigYaml('1: x\n"2": y\n'), { 1: 'x', 2: 'y' });
  let aliases = 'a: &a [1]\n';
  for (let i = 0; i < 150; i++) aliases += `b${i}: *a\n`;
  assert.throws(() => parseConfigYaml(aliases), /^Error: not valid YAML: Excessive alias count/);
  assert.throws(() => parseConfigYaml('---\na: 1\n---\nb: 2\n'), /^Error: not valid YAML: Source contains multiple documents/);
});

test('a key that is a collection or an alias is refused at once with its line; turning such keys into strings took the parser minutes under the limits', () => {
  for (const [text, line] of [['a: 1\n? [x, y]\n: 2\n', 2], ['{b: 1}: 2\n', 1], ['a: &k x\nc:\n  *k : 1\n', 3], ['? ? ? x\n', 1]] as const) {
    assert.throws(() => parseConfigYaml(text), { message: `not valid YAML for fedistill: a mapping key (line ${line}) is a collection or an alias; keys are plain names such as "rounds"` }, text);
  }
  // 300 lines of keys nested 140 deep ("? ? … x"), within the nesting limit: refused at the first one, where
  // making them plain data ran for minutes and then failed with "Invalid string length"
  const nestedKeys = Array.from({ length: 300 }, (_, i) => `${'? '.repeat(140)}x${i}`).join('\n');
  assert.throws(() => parseConfigYaml(nestedKeys), /a mapping key \(line 1\) is a collection or an alias/);
  // plain keys of every scalar kind, an empty key, and aliases as values still parse
  assert.deepEqual(parseConfigYaml('1: a\ntrue: b\n"q": c\n: d\nbase: &b {x: 1}\nuse: *b\n'), { 1: 'a', true: 'b', q: 'c', '': 'd', base: { x: 1 }, use: { x: 1 } });
});

test('run, site and scenario files are capped at 1 MiB, the allowlist at 4 MiB', () => {
  assert.equal(MAX_CONFIG_BYTES, 1024 * 1024, 'docs/config.md: configs and scenarios 1 MiB');
  assert.equal(MAX_ALLOWLIST_BYTES, 4 * 1024 * 1024, 'docs/config.md and docs/channel.md: the allowlist 4 MiB');
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-yaml-cap-'));
  try {
    // a 2 MiB allowlist (a comment pads it) is read; the same bytes as a run config are refused by size
    const file = join(dir, 'big.yaml');
    writeFileSync(file, `sites:\n  "${Buffer.alloc(32, 1).toString('base64')}": site-a\n#${'x'.repeat(2 * 1024 * 1024)}\n`);
    assert.deepEqual(loadAllowlist(file).siteNames, ['site-a']);
    assert.throws(() => readYamlFile(file, 'run config'), { code: 'E_CONFIG_INVALID', message: `run config ${file} is larger than ${MAX_CONFIG_BYTES} bytes; config files are small: is this the right file?` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
