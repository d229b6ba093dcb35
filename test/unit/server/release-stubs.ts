// What releaseRound tests share: a one-round run config and a strategy stub that releases two soft-label rows.
import { validateRunConfig, type RunConfig } from '../../../server/run-config.ts';
import type { PrivacyEvent } from '../../../shared/privacy/events.ts';
import type { RoundPlan, SiteReply, Strategy } from '../../../server/strategies/strategy.ts';

/** Run "r": one DS-FL round on a stubbed public set, with run budget ε `epsilon` and quorum (= min_sites) `quorum`. */
export function oneRoundConfig(epsilon: number, quorum = 1): RunConfig {
  return validateRunConfig({
    run_id: 'r', identity: 'x', allowlist: 'x', database: 'x', public_set: 'test:public', strategy: { name: 'dsfl', queries_per_round: 2 },
    privacy: { epsilon }, rounds: 1, quorum, min_sites: quorum,
  });
}

/** A strategy whose every aggregate releases two soft-label rows charged `event`; `aggregated` records each aggregate's sites. */
export function stubStrategy(event: PrivacyEvent, aggregated: string[][] = []): Strategy {
  return {
    name: 'stub', replyKind: 'soft_labels',
    configureRound: () => { throw new Error('not used'); },
    aggregate: (_plan: RoundPlan, replies: readonly SiteReply[]) => {
      aggregated.push(replies.map((r) => r.site));
      return { round: 0, indices: Uint32Array.of(0, 1), soft: new Float32Array(4), cols: 2, events: [event], metrics: {} };
    },
  } as unknown as Strategy;
}
