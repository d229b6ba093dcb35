// The allowlist's plain form is read line by line, to the same map the YAML parser gives; past
// 1 MiB only the plain form is read (the YAML parser can spend seconds per MiB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadAllowlist, parsePlainAllowlist, MAX_ALLOWLIST_SITES } from '../../../shared/crypto/allowlist.ts';
import { MAX_CONFIG_BYTES, parseConfigYaml } from '../../../shared/util/yaml-file.ts';
import { SeededRng } from '../../../shared/util/prng.ts';

const rng = new SeededRng(23);
const key = () => Buffer.from(Uint8Array.from({ length: 32 }, () => rng.int(256))).toString('base64');
/** What the YAML path gives for a file: its entries, or undefined when it is not a map of them. */
function viaYaml(text: string): [string, unknown][] | undefined {
  let doc: unknown;
  try { doc = parseConfigYaml(text); } catch { return undefined; }
  const map = doc && typeof doc === 'object' && 'sites' in doc ? (doc as { sites: unknown }).sites : doc;
  return map && typeof map === 'object' && !Array.isArray(map) ? Object.entries(map) : undefined;
}
// Names YAML reads as strings and names it reads as something else (a bare one of those makes the plain reader decline).
const NAMES = ['hospital-a', 'site.1', 'A_b-9', '1_000', 'yes', 'on', 'nan', 'inf', '0b101', '01x', 'true', 'null', 'NULL', 'False', '1e3', '123', '-7', '0x1F', '0o17', '1.', '.5', '.inf', '-.INF', '.NaN'];

test('the plain form reads to the entries YAML gives, in every style it accepts, and declines the rest', () => {
  let read = 0, declined = 0;
  for (let trial = 0; trial < 400; trial++) {
    const underSites = rng.next() < 0.5;
    const indent = underSites ? ' '.repeat(1 + rng.int(4)) : '';
    const lines: string[] = [];
    if (rng.next() < 0.3) lines.push('# allowlist', '');
    if (underSites) lines.push(rng.next() < 0.2 ? 'sites:   # the sites' : 'sites:');
    for (let i = 0, n = 1 + rng.int(6); i < n; i++) {
      const q = (x: string) => [x, `"${x}"`, `'${x}'`][rng.int(3)]!;
      const sep = [' ', '  ', '\t'][rng.int(3)]!;
      const tail = ['', ' ', ' # note', '\t# note'][rng.int(4)]!;
      lines.push(`${indent}${q(key())}:${sep}${q(NAMES[rng.int(NAMES.length)]!)}${tail}`);
      if (rng.next() < 0.1) lines.push('');
    }
    const text = lines.join(rng.next() < 0.2 ? '\r\n' : '\n') + (rng.next() < 0.5 ? '\n' : '');
    const plain = parsePlainAllowlist(text);
    const yaml = viaYaml(text);
    if (plain === undefined) {
      declined++;
      // Declined only for a bare name YAML does not read as a string.
      assert.ok(yaml?.some(([, v]) => typeof v !== 'string'), text);
    } else {
      read++;
      assert.deepEqual(plain, yaml, text);
    }
  }
  assert.ok(read > 100 && declined > 50, `${read} read, ${declined} declined`);
  // Other YAML is left to the parser: flow maps, nesting, anchors, mixed indentation, document markers.
  const k1 = key(), k2 = key();
  for (const text of [`{"${k1}": a}`, `sites:\n  ${k1}: a\n   ${k2}: b\n`, `${k1}: a\nsites:\n  ${k2}: b\n`, `---\n${k1}: a\n`, `${k1}: &x a\n`, `${k1}: a#b\n`, `sites: x\n`, `sites:\n${k1}: a\n`, `  ${k1}: a\n`, '', '# none\n', `sites:\n`, `${k1}: a\n${k2}: b\r`, `${k1}: a\r${k2}: b\n`]) {
    assert.equal(parsePlainAllowlist(text), undefined, text);
  }
});

test("what `yaml` writes for a map of 10,000 sites is plain, and past 1 MiB only the plain form loads", () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-allow-plain-'));
  try {
    const file = join(dir, 'allow.yaml');
    const sites: Record<string, string> = {};
    for (let i = 0; i < MAX_ALLOWLIST_SITES; i++) sites[key()] = `site-${String(i).padStart(5, '0')}-${'x'.repeat(48)}`;
    const text = stringify({ sites });
    assert.ok(text.length > MAX_CONFIG_BYTES, `${text.length} bytes`);
    assert.deepEqual(parsePlainAllowlist(text), Object.entries(sites));
    writeFileSync(file, text);
    const allow = loadAllowlist(file);
    assert.equal(allow.size, MAX_ALLOWLIST_SITES);
    assert.deepEqual(allow.siteNames, Object.values(sites));
    // The same sites as a flow map: valid YAML, but over 1 MiB and not plain.
    writeFileSync(file, JSON.stringify({ sites }));
    assert.throws(() => loadAllowlist(file), { code: 'E_ALLOWLIST_INVALID', message: /is over 1048576 bytes and not in the plain form/ });
    // Under 1 MiB any YAML map still loads.
    const few = Object.fromEntries(Object.entries(sites).slice(0, 100));
    writeFileSync(file, JSON.stringify({ sites: few }));
    assert.equal(loadAllowlist(file).size, 100);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
