// Config text nested thousands of [ or { deep is refused before the YAML parser sees it: under the 4 MiB cap the
// parser used to spend ~30 s and 2.3 GB tokenising such a file before it overflowed, and a second one aborted Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CONFIG_BYTES, MAX_FLOW_DEPTH, parseConfigYaml, readYamlFile } from '../../../shared/util/yaml-file.ts';
import { loadAllowlist } from '../../../shared/crypto/allowlist.ts';

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
