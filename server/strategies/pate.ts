// PATE: sites send vote histograms (site-level: one teacher per site; example-level: k per site);
// the aggregator answers each public sample by Confident-GNMax and charges what it released (data-independent by default).
import { check } from '../../shared/util/errors.ts';
import { confidentGnmax } from '../../shared/privacy/noisy-max.ts';
import type { PrivacyEvent } from '../../shared/privacy/events.ts';
import type { RoundPlan, RoundRelease, SiteFailure, SiteReply, Strategy, StrategyContext } from './strategy.ts';
import { samplePublicIndices } from './strategy.ts';

export interface PateOptions {
  queriesPerRound: number;
  threshold: number;
  sigma1: number;
  sigma2: number;
  minReplies?: number;
  /**
   * 'data-independent' (default): charge α/(2σ₁²) per query and α/σ₂² per answer. The ε is
   * publishable, and the ledger and audit log hold no vote counts. 'data-dependent': charge
   * PATE's data-dependent bounds (much smaller ε), whose events carry the noiseless vote
   * histograms and maxima: that ε and those records are private to the aggregator's operator
   * (publish a smooth-sensitivity release instead; docs/privacy.md).
   */
  accounting?: 'data-independent' | 'data-dependent';
}

/**
 * Votes are summed over the sites that replied (teachers that dropped out simply do not vote,
 * and the accounting uses the histogram actually aggregated). Charges are realized: the
 * threshold step for every query, GNMax only for answered ones; data-independent by default.
 */
export class Pate implements Strategy {
  readonly name = 'pate';
  readonly replyKind = 'vote_histogram' as const;
  readonly options: Required<PateOptions>;

  constructor(options: PateOptions) {
    check(Number.isSafeInteger(options.queriesPerRound) && options.queriesPerRound > 0, 'queries_per_round', 'must be a positive integer');
    check(options.sigma1 > 0, 'sigma1', 'must be > 0');
    check(options.sigma2 > 0, 'sigma2', 'must be > 0');
    check(Number.isFinite(options.threshold), 'threshold', 'must be a finite number');
    this.options = { minReplies: 1, accounting: 'data-independent', ...options };
  }

  configureRound(round: number, ctx: StrategyContext): RoundPlan {
    return { round, indices: samplePublicIndices(ctx.publicSize, this.options.queriesPerRound, ctx.rng), replyKind: 'vote_histogram', params: {} };
  }

  aggregate(plan: RoundPlan, replies: readonly SiteReply[], failures: readonly SiteFailure[], ctx: StrategyContext): RoundRelease | null {
    if (replies.length < this.options.minReplies) return null;
    const rows = plan.indices.length;
    const cols = ctx.numClasses;
    const hist = new Int32Array(rows * cols);
    let teachers = 0;
    for (const r of replies) {
      check(r.votes !== undefined && r.rows === rows && r.cols === cols && r.votes.length === rows * cols, `reply from ${r.site}`, 'has the wrong shape');
      for (let i = 0; i < hist.length; i++) hist[i] += r.votes![i]!;
      teachers += r.teachers;
    }
    const labels = new Int32Array(rows).fill(-1);
    const events: PrivacyEvent[] = [];
    let answered = 0;
    for (let q = 0; q < rows; q++) {
      const res = confidentGnmax(hist.subarray(q * cols, (q + 1) * cols), this.options, ctx.noise);
      // Data-independent events keep only the noise scale: no vote count reaches the ledger or the audit log.
      events.push(...(this.options.accounting === 'data-dependent' ? res.events : res.events.map((e) => ({ type: e.type, sigma: (e as { sigma: number }).sigma }) as PrivacyEvent)));
      if (res.answered) { labels[q] = res.label!; answered++; }
    }
    return {
      round: plan.round,
      indices: plan.indices,
      labels,
      cols,
      events,
      mechanism: {
        kind: 'confident_gnmax', queries: rows, answered, threshold: this.options.threshold, sigma1: this.options.sigma1, sigma2: this.options.sigma2,
        accounting: this.options.accounting, adjacency: 'replace-one',
      },
      metrics: { replies: replies.length, failures: failures.length, teachers, answered, queries: rows },
    };
  }
}
