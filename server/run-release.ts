// Releasing a round: aggregate the replies, charge the run's and the participants' scopes and record the release in one
// transaction; a participant whose own scope refuses the charge is dropped and the others are aggregated again.
import type { AuditLog } from '../shared/audit/audit-log.ts';
import { buildReleaseData } from '../shared/audit/release-data.ts';
import type { PrivacyEvent } from '../shared/privacy/events.ts';
import type { PrivacyLedger } from '../shared/privacy/ledger.ts';
import { FedistillError } from '../shared/util/errors.ts';
import type { RunConfig } from './run-config.ts';
import type { RunDatabase } from './run-database.ts';
import { budgetRefusedData, SITE_SCOPE_EXHAUSTED, type SiteBudgets } from './run-site-budgets.ts';
import { SITE_SCOPE } from './site-scopes.ts';
import { encodeRelease } from './release-codec.ts';
import type { RoundPlan, RoundRelease, SiteFailure, SiteReply, Strategy, StrategyContext } from './strategies/strategy.ts';
import { siteMapFields } from '../shared/audit/site-map-budget.ts';

export interface RoundReleaseDeps {
  db: RunDatabase;
  config: RunConfig;
  strategy: Strategy;
  ledger: PrivacyLedger;
  runScope: string;
  budgets: SiteBudgets;
  audit?: AuditLog;
}

export interface RoundInput {
  plan: RoundPlan;
  round: number;
  ctx: StrategyContext;
  /** Usable replies, sorted by site. */
  replies: readonly SiteReply[];
  /** The attempt's failures; a participant dropped for its budget is added here. */
  failures: SiteFailure[];
  /** What each replying site recorded for its reply (the release's `site_events`). */
  siteEvents: Record<string, PrivacyEvent>;
}

export type RoundOutcome =
  | { status: 'released'; release: RoundRelease; participants: string[] }
  /** Below quorum, or the strategy released nothing: the round may be asked again. */
  | { status: 'nothing' }
  /** The run scope refused, or dropping the sites whose scopes refused left fewer than the quorum. */
  | { status: 'budget_exhausted'; reason: string };

/**
 * Aggregates, charges and records round `round`. The ledger is charged before anything is released,
 * in the transaction that records the release. When the charge is refused for a site's own scope
 * only, that site is dropped and the rest aggregated again while the quorum holds: the discarded
 * aggregate was never released, so it costs nothing, and the new one draws fresh noise.
 */
export function releaseRound(d: RoundReleaseDeps, input: RoundInput): RoundOutcome {
  const { db, config, strategy, ledger, audit } = d;
  const { plan, round, ctx, failures } = input;
  let replies = input.replies;
  let dropped = 0;
  for (;;) {
    if (dropped > 0 && replies.length < config.quorum) {
      return { status: 'budget_exhausted', reason: `only ${replies.length} of the round's replies come from sites whose budget can pay for it, quorum ${config.quorum}` };
    }
    const r = replies.length < config.quorum ? null : strategy.aggregate(plan, replies, failures, ctx);
    if (!r) return { status: 'nothing' };
    // a release nothing pays for is a strategy bug: refuse it rather than release uncharged
    if (r.events.length === 0) throw new FedistillError('E_INTERNAL', `strategy ${strategy.name} released round ${round + 1} without a privacy charge; nothing was released`);
    const participants = replies.map((x) => x.site);
    const event = r.events.length === 1 ? r.events[0]! : { type: 'composed' as const, events: r.events, count: 1 };
    const c = db.transaction(() => {
      const charged = ledger.tryCharge(event, { scope: [d.runScope, ...participants.map(SITE_SCOPE)], note: `round ${round}` });
      if (charged.status === 'refused') {
        // a site's refusal is audited where the site is dropped; the run's ends the run, as ever
        if (d.budgets.siteOf(charged.scope) === undefined) {
          audit?.append({ kind: 'budget_refused', runId: config.runId, round, data: budgetRefusedData(charged) });
          // the run ends with the refusal, in its transaction: a crash before the run's end was written
          // asked the round again with fresh noise (PATE's data-dependent charge), a second draw at the budget
          db.setRunStatus(config.runId, 'budget_exhausted');
        }
        return charged;
      }
      // the asked sites whose reply is not in it, kept with it: re-sent after a restart, the round's
      // signed result still names them (audit compare counts their recorded replies as not aggregated)
      const failed = failures.map((f) => ({ site: f.site, reason: f.reason }));
      db.insertRelease(config.runId, round, r.soft ? 'soft' : 'labels', encodeRelease(r, participants), { ...r.metrics, participants: participants.length, failed }, participants);
      if (audit) {
        const answered = r.labels ? r.labels.filter((l) => l >= 0).length : undefined;
        // only the participants' events: a dropped site's reply was not released (its round is budget_refused for it)
        const rest = buildReleaseData(event, charged.epsilon, {
          ...(answered !== undefined ? { queries_answered: answered, queries_refused: r.labels!.length - answered } : {}),
          ...(r.mechanism ? { mechanism: r.mechanism } : {}),
        });
        const participantEvents = Object.fromEntries(participants.flatMap((p) => (Object.hasOwn(input.siteEvents, p) ? [[p, input.siteEvents[p]!] as const] : [])));
        audit.append({ kind: 'release', runId: config.runId, round, data: { ...rest, ...siteMapFields('site_events', participantEvents, rest) } });
      }
      return charged;
    });
    if (c.status === 'accepted') return { status: 'released', release: r, participants };
    const site = d.budgets.siteOf(c.scope);
    if (site === undefined || !participants.includes(site)) return { status: 'budget_exhausted', reason: c.reason };
    d.budgets.refusedAtCharge(round, site, c);
    failures.push({ site, reason: 'error', detail: `${SITE_SCOPE_EXHAUSTED}: ${c.reason}` });
    replies = replies.filter((x) => x.site !== site);
    dropped++;
  }
}
