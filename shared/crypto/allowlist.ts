// The aggregator's allowlist: which site public keys may connect, and the site name each one gets.
import { ChannelError } from '../../protocols/error-catalogue.ts';
import { SITE_NAME_PATTERN } from '../../protocols/validators.ts';
import { readFileUpTo } from '../util/bounded-read.ts';
import { parseConfigYaml } from '../util/yaml-file.ts';
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

/**
 * Loads an allowlist file: YAML (or JSON) mapping base64 public keys to site names, either at the
 * top level or under `sites:`. Example:
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
  let doc: unknown;
  try {
    doc = parseConfigYaml(read.bytes.toString('utf8'));
  } catch (e) {
    throw new ChannelError('E_ALLOWLIST_INVALID', `allowlist ${path} is ${(e as Error).message}`);
  }
  const map = doc && typeof doc === 'object' && 'sites' in doc ? (doc as { sites: unknown }).sites : doc;
  if (!map || typeof map !== 'object' || Array.isArray(map)) {
    throw new ChannelError('E_ALLOWLIST_INVALID', `${path}: expected a map of public key → site name (optionally under "sites:")`);
  }
  try {
    return new Allowlist(Object.entries(map as Record<string, string>));
  } catch (e) {
    if (e instanceof ChannelError && e.code === 'E_KEY_FILE_INVALID') throw new ChannelError('E_ALLOWLIST_INVALID', `${path}: ${e.message}`);
    throw e;
  }
}
