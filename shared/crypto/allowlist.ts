// The aggregator's allowlist: which site public keys may connect, and the site name each one gets.
import { ChannelError } from '../../protocols/error-catalogue.ts';
import { SITE_NAME_PATTERN } from '../../protocols/validators.ts';
import { readFileUpTo } from '../util/bounded-read.ts';
import { MAX_CONFIG_BYTES, parseConfigYaml } from '../util/yaml-file.ts';
import { decodePublicKey, encodePublicKey } from './identity.ts';

/** Object.prototype's own property names (constructor, toString, valueOf, …): not usable as site names. */
const RESERVED_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Most sites one aggregator admits. A round's signed audit entries list every participant (its
 * ledger scope, its ε, and its privacy event or that event's digest: about 300 bytes a site at
 * the longest names), and an entry holds at most 8 MiB: 10,000 sites keep that under 3 MiB, so
 * every round's entries fit whatever the sites send (shared/audit/site-map-budget.ts).
 */
export const MAX_ALLOWLIST_SITES = 10_000;

/** Public key (base64) → site name. Site names are unique. */
export class Allowlist {
  private readonly byKey = new Map<string, string>();

  constructor(entries: Iterable<readonly [publicKey: Uint8Array | string, siteName: string]> = []) {
    const names = new Set<string>();
    for (const [key, name] of entries) {
      if (names.size >= MAX_ALLOWLIST_SITES) {
        throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist: more than ${MAX_ALLOWLIST_SITES} sites; one aggregator admits at most ${MAX_ALLOWLIST_SITES} (its audit entries list every participant of a round): split the sites across runs or aggregators`);
      }
      const pub = typeof key === 'string' ? decodePublicKey(key, `allowlist key for ${name}`) : key;
      if (typeof name !== 'string' || !SITE_NAME_PATTERN.test(name)) {
        throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist: site name "${String(name).slice(0, 40)}" must match ${SITE_NAME_PATTERN}`);
      }
      // Names are keys of plain objects in reports and summaries across the code: an inherited one would read the prototype's.
      if (RESERVED_NAMES.has(name)) throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist: site name "${name}" is reserved (a property every JavaScript object has); choose another`);
      if (names.has(name)) throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist: site name "${name}" appears twice; names must be unique`);
      const id = encodePublicKey(pub);
      if (this.byKey.has(id)) throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist: key ${id} appears twice`);
      names.add(name);
      this.byKey.set(id, name);
    }
  }

  /** The site name for a key, or undefined when the key is not allowed. */
  siteNameOf(publicKey: Uint8Array): string | undefined {
    return this.byKey.get(encodePublicKey(publicKey));
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Every site name it admits. */
  get siteNames(): string[] {
    return [...this.byKey.values()];
  }
}

/** An allowlist is a YAML file of up to 4 MiB (more than MAX_ALLOWLIST_SITES entries); a larger one is refused before it is read. */
export const MAX_ALLOWLIST_BYTES = 4 * 1024 * 1024;

const PLAIN_KEY = String.raw`(?:"([A-Za-z0-9+/=]+)"|'([A-Za-z0-9+/=]+)'|([A-Za-z0-9+/=]+))`;
const PLAIN_NAME = String.raw`(?:"([A-Za-z0-9._-]+)"|'([A-Za-z0-9._-]+)'|([A-Za-z0-9._-]+))`;
const PLAIN_LINE = new RegExp(String.raw`^( *)${PLAIN_KEY}:[ \t]+${PLAIN_NAME}[ \t]*(?:[ \t]#.*)?$`);
const SKIP_LINE = /^[ \t]*(?:#.*)?$/;
/** Bare scalars that YAML 1.2's core schema reads as null, booleans or numbers, not strings. */
const YAML_NOT_STRING = /^(?:null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

/**
 * The allowlist's plain form, read line by line in time linear in its size: one
 * `<public key>: <site name>` line per site (each bare or in quotes), at the top level or indented
 * under `sites:`, with blank and comment lines. It is what `yaml` writes for such a map, and what
 * the YAML parser would read from it (a test compares the two). Returns undefined for any other
 * text, which the YAML parser then reads, and for a bare name YAML reads as no string (`true`, `1e3`).
 */
export function parsePlainAllowlist(text: string): [string, string][] | undefined {
  const entries: [string, string][] = [];
  let indent: number | undefined;
  let underSites = false;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    // A line break is \n or \r\n; any other \r (a lone one, at the end too) matches no pattern
    // below, so the YAML parser reads that file.
    const line = i < lines.length - 1 && lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (SKIP_LINE.test(line)) continue;
    if (/^sites:[ \t]*(?:[ \t]#.*)?$/.test(line)) {
      if (underSites || entries.length > 0) return undefined;
      underSites = true;
      continue;
    }
    const m = PLAIN_LINE.exec(line);
    if (!m) return undefined;
    indent ??= m[1]!.length;
    if (m[1]!.length !== indent || (underSites ? indent === 0 : indent !== 0)) return undefined;
    const name = m[5] ?? m[6] ?? m[7]!;
    if (m[7] !== undefined && YAML_NOT_STRING.test(name)) return undefined;
    const key = m[2] ?? m[3] ?? m[4]!;
    if (key === 'sites') return undefined; // YAML would read it as the wrapper
    entries.push([key, name]);
  }
  return entries.length > 0 ? entries : undefined;
}

/**
 * Loads an allowlist file: YAML (or JSON) mapping base64 public keys to site names, either at the
 * top level or under `sites:`; over 1 MiB, only in the plain form (`parsePlainAllowlist`). Example:
 *   sites:
 *     "q3n1...=": hospital-a
 */
export function loadAllowlist(path: string): Allowlist {
  let read: ReturnType<typeof readFileUpTo>;
  // regular files only, opened non-blocking (a FIFO with no writer would hang the aggregator's start)
  try {
    read = readFileUpTo(path, MAX_ALLOWLIST_BYTES, { regularOnly: true });
  } catch (e) {
    throw new ChannelError('E_ALLOWLIST_INVALID', `cannot read allowlist ${path}: ${(e as Error).message}`);
  }
  if (!read.ok) {
    const what = read.why === 'not_a_file' ? 'not a regular file (a pipe, socket or device)' : `larger than ${MAX_ALLOWLIST_BYTES} bytes`;
    throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist ${path} is ${what}; give the YAML file that maps site public keys to site names`);
  }
  const text = read.bytes.toString('utf8');
  let entries = parsePlainAllowlist(text);
  if (!entries) {
    // The YAML parser can spend 5 to 17 s on a MiB of collections: past a config file's size, only the plain form.
    if (read.bytes.length > MAX_CONFIG_BYTES) {
      throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist ${path} is over ${MAX_CONFIG_BYTES} bytes and not in the plain form; an allowlist that large must be one "<public key>: <site name>" line per site (optionally indented under "sites:"), with only blank and comment lines besides, as fedistill writes them`);
    }
    let doc: unknown;
    try {
      doc = parseConfigYaml(text);
    } catch (e) {
      throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist ${path} is ${(e as Error).message}`);
    }
    const map = doc && typeof doc === 'object' && 'sites' in doc ? (doc as { sites: unknown }).sites : doc;
    if (!map || typeof map !== 'object' || Array.isArray(map)) {
      throw new ChannelError('E_ALLOWLIST_INVALID', `${path}: expected a map of public key → site name (optionally under "sites:")`);
    }
    entries = Object.entries(map as Record<string, string>);
  }
  try {
    return new Allowlist(entries);
  } catch (e) {
    if (e instanceof ChannelError && e.code === 'E_KEY_FILE_INVALID') throw new ChannelError('E_ALLOWLIST_INVALID', `${path}: ${e.message}`);
    throw e;
  }
}
