// What the aggregator demands of a site's query traffic beyond the wire validator: pinned teacher counts and vote bounds (request ids: protocols/request-id.ts).
import { FIELD_LIMITS } from '../protocols/limits.ts';

// the ids are part of the protocol: an auditor reads the site back from them (protocols/request-id.ts)
export { queryRequestId } from '../protocols/request-id.ts';

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
