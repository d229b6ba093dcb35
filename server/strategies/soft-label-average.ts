// FedMD and DS-FL: sites send soft labels on public samples; the consensus is their average,
// optionally sharpened by entropy reduction (DS-FL: softmax(mean / T)).
import { check } from '../../shared/util/errors.ts';
import type { RoundPlan, RoundRelease, SiteFailure, SiteReply, Strategy, StrategyContext } from './strategy.ts';
import { samplePublicIndices } from './strategy.ts';

export interface SoftLabelAverageOptions {
  /** Public samples per round. */
  queriesPerRound: number;
  /** DS-FL's entropy-reduction temperature; undefined = plain average (FedMD). */
  entropyReductionTemperature?: number;
  /** Temperature sites apply to their logits before softmax. */
  replyTemperature?: number;
  /** Minimum replies to release a round. */
  minReplies?: number;
}

/**
 * Averages the sum of soft labels. Exposes `combine` so a privacy wrapper can add noise to the
 * sum before the (non-linear) consensus transform.
 */
export class SoftLabelAverage implements Strategy {
  readonly name: string;
  readonly replyKind = 'soft_labels' as const;
  readonly options: Required<Omit<SoftLabelAverageOptions, 'entropyReductionTemperature'>> & { entropyReductionTemperature?: number };

  constructor(options: SoftLabelAverageOptions) {
    check(Number.isSafeInteger(options.queriesPerRound) && options.queriesPerRound > 0, 'queries_per_round', 'must be a positive integer');
    if (options.entropyReductionTemperature !== undefined) {
      check(options.entropyReductionTemperature > 0, 'entropy_reduction_temperature', 'must be > 0');
    }
    this.options = { replyTemperature: 1, minReplies: 1, ...options };
    this.name = options.entropyReductionTemperature === undefined ? 'fedmd' : 'dsfl';
  }

  configureRound(round: number, ctx: StrategyContext): RoundPlan {
    return {
      round,
      indices: samplePublicIndices(ctx.publicSize, this.options.queriesPerRound, ctx.rng),
      replyKind: 'soft_labels',
      params: { temperature: this.options.replyTemperature },
    };
  }

  /** Sum of the replies' rows and the number of teachers behind them. */
  sum(plan: RoundPlan, replies: readonly SiteReply[]): { sum: Float64Array; teachers: number; cols: number } {
    const rows = plan.indices.length;
    const cols = replies[0]?.cols ?? 0;
    const sum = new Float64Array(rows * cols);
    let teachers = 0;
    for (const r of replies) {
      check(r.soft !== undefined && r.rows === rows && r.cols === cols && r.soft.length === rows * cols, `reply from ${r.site}`, 'has the wrong shape');
      for (let i = 0; i < sum.length; i++) sum[i] += r.soft![i]!;
      teachers += r.teachers;
    }
    return { sum, teachers, cols };
  }

  /** Turns a (possibly noised) sum over `teachers` into the consensus. */
  combine(sum: Float64Array, teachers: number, rows: number, cols: number): Float32Array {
    const out = new Float32Array(rows * cols);
    const t = this.options.entropyReductionTemperature;
    for (let r = 0; r < rows; r++) {
      if (t === undefined) {
        for (let c = 0; c < cols; c++) out[r * cols + c] = sum[r * cols + c]! / Math.max(1, teachers);
        continue;
      }
      let max = -Infinity;
      for (let c = 0; c < cols; c++) max = Math.max(max, sum[r * cols + c]! / Math.max(1, teachers) / t);
      let z = 0;
      for (let c = 0; c < cols; c++) z += Math.exp(sum[r * cols + c]! / Math.max(1, teachers) / t - max);
      for (let c = 0; c < cols; c++) out[r * cols + c] = Math.exp(sum[r * cols + c]! / Math.max(1, teachers) / t - max) / z;
    }
    return out;
  }

  aggregate(plan: RoundPlan, replies: readonly SiteReply[], failures: readonly SiteFailure[], _ctx: StrategyContext): RoundRelease | null {
    if (replies.length < this.options.minReplies) return null;
    const { sum, teachers, cols } = this.sum(plan, replies);
    return {
      round: plan.round,
      indices: plan.indices,
      soft: this.combine(sum, teachers, plan.indices.length, cols),
      cols,
      events: [],
      metrics: { replies: replies.length, failures: failures.length, teachers },
    };
  }
}
