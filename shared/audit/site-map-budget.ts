// Fits what each site sent (metrics, privacy events) into one signed audit entry, whatever the number of sites.
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';
import { MAX_AUDIT_DATA_BYTES } from './audit-log.ts';

/**
 * Most bytes (canonical JSON) of one entry's per-site map. Each site's part is bounded on the wire,
 * but their number is not: 240 sites sending the largest metrics map allowed would pass the entry's
 * 8 MiB cap, the append would throw inside the round's transaction, and the run could never finish
 * that round. Half the cap leaves room for the entry's other fields (participants, scopes).
 */
export const SITE_MAP_BUDGET_BYTES = MAX_AUDIT_DATA_BYTES / 2;

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
  const text = canonicalJson(value);
  return { bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text, 'utf8').digest('hex') };
}

/**
 * Keeps the smallest sites' values first (ties by name, so the entry is the same on every replay)
 * until the next one would pass `budget`; the rest are named with their digest. Honest sites send a
 * few hundred bytes, so they stay in the log while sites that send the most are the ones left out.
 * Maps are built without a prototype: site names are data ("__proto__" must stay a key).
 */
export function fitSiteMap<T>(map: Readonly<Record<string, T>>, budget = SITE_MAP_BUDGET_BYTES): FittedSiteMap<T> {
  const sized = Object.keys(map).map((site) => ({ site, bytes: Buffer.byteLength(canonicalJson(map[site])) + Buffer.byteLength(JSON.stringify(site)) + 2 }));
  sized.sort((a, b) => a.bytes - b.bytes || (a.site < b.site ? -1 : a.site > b.site ? 1 : 0));
  const kept: Record<string, T> = Object.create(null);
  const omitted: Record<string, OmittedSiteValue> = Object.create(null);
  let used = 2;
  for (const { site, bytes } of sized) {
    if (used + bytes <= budget) { kept[site] = map[site]!; used += bytes; } else omitted[site] = siteValueDigest(map[site]);
  }
  return { kept, omitted };
}
