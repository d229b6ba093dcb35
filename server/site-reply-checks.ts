// What the aggregator demands of a site's query traffic beyond the wire validator: pinned teacher counts, vote bounds, privacy-event size (request ids: protocols/request-id.ts).
import { FIELD_LIMITS } from '../protocols/limits.ts';
import { validatePrivacyEvent, type PrivacyEvent } from '../shared/privacy/events.ts';

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

/**
 * Most bytes (as JSON) of the privacy event a site attaches to its reply. A site's event is copied
 * into the round's signed `release` audit entry (`site_events`), whose data is capped at 8 MiB: an
 * honest site's event is a few hundred bytes (a composed threshold + GNMax pair, or one Gaussian),
 * while the wire allows ~3 MB of vote counts per reply, so three colluding sites could push the
 * release entry over the cap and make the charge transaction (and the run) fail, and one could
 * grow the log by megabytes every round.
 */
export const MAX_SITE_EVENT_BYTES = 16 * 1024;

/**
 * The privacy event a site recorded for its reply, validated and size-bounded, or the reason it is
 * refused (`problem`): the aggregator keeps it for the audit log only, never for its own charge.
 */
export function siteEventOf(raw: Record<string, unknown>, site: string): { event: PrivacyEvent } | { problem: string } {
  let event: PrivacyEvent;
  try { event = validatePrivacyEvent(raw, `${site}.privacyEvent`); } catch (e) { return { problem: (e as Error).message }; }
  const bytes = Buffer.byteLength(JSON.stringify(event));
  if (bytes > MAX_SITE_EVENT_BYTES) {
    return { problem: `privacyEvent is ${bytes} bytes of JSON; at most ${MAX_SITE_EVENT_BYTES} (a site records the charge of its reply, not vote counts)` };
  }
  return { event };
}
