// What the aggregator demands of a site's query traffic beyond the wire validator: request ids per attempt, pinned teacher counts and vote bounds.
import { createHash } from 'node:crypto';
import { FIELD_LIMITS } from '../protocols/limits.ts';
import { ID_PATTERN } from '../protocols/validators.ts';

/**
 * The request id of one site's query in one attempt of a round. Deterministic (a restarted
 * aggregator asks the same ids, which sites answer from their cache without a second release),
 * distinct per attempt, and always a valid protocol id: a long or odd run id is replaced by its hash.
 */
export function queryRequestId(runId: string, round: number, attempt: number, site: string): string {
  const suffix = `.r${round}${attempt > 0 ? `.a${attempt}` : ''}.${site}`;
  const plain = `${runId}${suffix}`;
  if (plain.length <= FIELD_LIMITS.maxIdLength && ID_PATTERN.test(plain)) return plain;
  return `run-${createHash('sha256').update(runId).digest('hex').slice(0, 16)}${suffix}`;
}

/**
 * Why a reply's votes or teacher count cannot be aggregated, or undefined. A site's weight (its
 * votes per row in PATE, its clip multiplier in a soft-label sum) is the run's pinned
 * `privacy.teachers_per_site`, never what the site declares: a reply whose `stats.teachers`
 * (absent: 1) differs is refused, so one site cannot outvote the rest by declaring more teachers.
 * No histogram row may hold more votes than that either (nor overflow the Int32 sums).
 */
export function replyProblem(votes: Int32Array | Uint16Array | undefined, rows: number, cols: number, declared: number | undefined, pinned: number): string | undefined {
  const teachers = declared ?? 1;
  if (teachers !== pinned) {
    return `stats.teachers is ${teachers}, but this run pins privacy.teachers_per_site = ${pinned}; set the site's teachers to ${pinned}`;
  }
  if (!Number.isSafeInteger(pinned) || pinned < 1 || pinned > FIELD_LIMITS.maxTeachers) {
    return `privacy.teachers_per_site is ${pinned}; it must be an integer in 1..${FIELD_LIMITS.maxTeachers}`;
  }
  if (!votes) return undefined;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += votes[r * cols + c]!;
    if (sum > pinned) return `row ${r} holds ${sum} votes but the site answers with ${pinned} teacher(s)`;
  }
  return undefined;
}
