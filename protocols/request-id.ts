// Query request ids: how the aggregator names each site's query, and how an auditor reads the site back from one.
import { createHash } from 'node:crypto';
import { FIELD_LIMITS } from './limits.ts';
import { ID_PATTERN, SITE_NAME_PATTERN } from './validators.ts';

/**
 * The request id of one site's query in one attempt of a round: `<run>.r<round>[.a<attempt>].<site>`.
 * Deterministic (a restarted aggregator asks the same ids, which sites answer from their cache
 * without a second release), distinct per attempt, and always a valid protocol id: a long or odd
 * run id is replaced by `run-<first 16 hex of its SHA-256>`.
 */
export function queryRequestId(runId: string, round: number, attempt: number, site: string): string {
  const suffix = `.r${round}${attempt > 0 ? `.a${attempt}` : ''}.${site}`;
  const plain = `${runId}${suffix}`;
  if (plain.length <= FIELD_LIMITS.maxIdLength && ID_PATTERN.test(plain)) return plain;
  return `run-${createHash('sha256').update(runId).digest('hex').slice(0, 16)}${suffix}`;
}

const escapeRegExp = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The site a query request id of `runId`'s round `round` names (queryRequestId's form), or undefined for an id of another form. */
export function siteOfQueryRequestId(requestId: string, runId: string, round: number): string | undefined {
  const m = new RegExp(`^(?:${escapeRegExp(runId)}|run-[0-9a-f]{16})\\.r${round}(?:\\.a\\d+)?\\.(.+)$`).exec(requestId);
  return m && SITE_NAME_PATTERN.test(m[1]!) ? m[1] : undefined;
}
