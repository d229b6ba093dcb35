// Fits what each site sent (metrics, privacy events) into one signed audit entry, for as many sites as an aggregator admits.
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';
import { MAX_AUDIT_DATA_BYTES } from './audit-log.ts';

/**
 * Most bytes (canonical JSON) of one entry's per-site map, digests of the values left out
 * included. Each site's part is bounded on the wire, but a round may have thousands of
 * participants: 270 sites sending the largest metrics map allowed passed the entry's 8 MiB cap,
 * the append threw inside the round's transaction, and the run could never finish that round.
 */
export const SITE_MAP_BUDGET_BYTES = MAX_AUDIT_DATA_BYTES / 2;

/**
 * What an entry whose other data is `rest` leaves for its site map: at most SITE_MAP_BUDGET_BYTES,
 * and never more than the cap less `rest` (participants, scopes and ε grow with the sites too).
 */
export function siteMapBudget(rest: unknown): number {
  return Math.min(SITE_MAP_BUDGET_BYTES, MAX_AUDIT_DATA_BYTES - Buffer.byteLength(canonicalJson(rest)) - 1024);
}

/**
 * What the entry says of a site's value it left out: its size, and the SHA-256 (hex) of its
 * canonical JSON, so the value kept elsewhere (the site's own ledger, the run's database) can
 * still be matched against the signed log.
 */
export interface OmittedSiteValue { bytes: number; sha256: string }

/** A per-site map cut to a byte budget: the sites kept, and a digest of each one left out. */
export interface FittedSiteMap<T> {
  kept: Record<string, T>;
  omitted: Record<string, OmittedSiteValue>;
}

/** The digest `fitSiteMap` records for a value it leaves out. */
export function siteValueDigest(value: unknown): OmittedSiteValue {
  return digestOf(canonicalJson(value));
}

function digestOf(text: string): OmittedSiteValue {
  return { bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text, 'utf8').digest('hex') };
}

/** Bytes of a digest's canonical JSON: it depends only on `bytes` (the hash is always 64 hex digits). */
function digestBytes(bytes: number): number {
  return Buffer.byteLength(canonicalJson({ bytes, sha256: '0'.repeat(64) }));
}

/**
 * Keeps the smallest sites' values first (ties by name, so the entry is the same on every replay)
 * while the map, with a digest for each site left out, stays within `budget`. Honest sites send a
 * few hundred bytes, so they stay in the log while sites that send the most are the ones left out;
 * a value smaller than its digest is always kept. Only values left out are hashed. Maps are built
 * without a prototype: site names are data ("__proto__" must stay a key).
 */
export function fitSiteMap<T>(map: Readonly<Record<string, T>>, budget = SITE_MAP_BUDGET_BYTES): FittedSiteMap<T> {
  const sized = Object.keys(map).map((site) => {
    const key = Buffer.byteLength(JSON.stringify(site)) + 2; // "site": and a comma
    const text = canonicalJson(map[site]);
    const bytes = Buffer.byteLength(text);
    return { site, text, keep: key + bytes, omit: key + digestBytes(bytes) };
  });
  sized.sort((a, b) => a.keep - b.keep || (a.site < b.site ? -1 : a.site > b.site ? 1 : 0));
  const kept: Record<string, T> = Object.create(null);
  const omitted: Record<string, OmittedSiteValue> = Object.create(null);
  let used = 4 + sized.reduce((sum, s) => sum + s.omit, 0); // every site as a digest, then the cheapest kept whole
  for (const s of sized) {
    const extra = s.keep - s.omit; // ≤ 0: the value is smaller than its digest, so keeping it always saves bytes
    if (extra <= 0 || used + extra <= budget) { kept[s.site] = map[s.site]!; used += extra; } else omitted[s.site] = digestOf(s.text);
  }
  return { kept, omitted };
}

/**
 * An entry's fields for a per-site map, fitted to what the entry's other data `rest` leaves:
 * `name` with the values kept, and `<name>_omitted` with the digests of the rest when there are any.
 */
export function siteMapFields<T>(name: string, map: Readonly<Record<string, T>>, rest: unknown): Record<string, unknown> {
  const { kept, omitted } = fitSiteMap(map, siteMapBudget(rest));
  return Object.keys(omitted).length ? { [name]: kept, [`${name}_omitted`]: omitted } : { [name]: kept };
}
