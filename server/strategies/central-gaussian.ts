// Privacy wrapper: clips each site's soft-label rows and adds Gaussian noise to their sum before
// the wrapped strategy turns the sum into a consensus (central DP).
import { check } from '../../shared/util/errors.ts';
import { centralReleaseSensitivity, clampNegative, clipL2Rows, gaussianRowsCharge } from '../../shared/privacy/soft-labels.ts';
import { addGridGaussian, float32Step, RELEASE_GRID } from '../../shared/privacy/grid-gaussian.ts';
import type { RoundPlan, RoundRelease, SiteFailure, SiteReply, Strategy, StrategyContext } from './strategy.ts';
import type { SoftLabelAverage } from './soft-label-average.ts';

export interface CentralGaussianOptions {
  /** L2 bound per row per teacher. */
  clip: number;
  /** Noise standard deviation divided by `clip`. */
  noiseMultiplier: number;
}

/**
 * Composes around FedMD/DS-FL. Replacing one teacher's data (the privacy unit; replace-one
 * adjacency, see replaceOneSensitivity) moves its clipped, non-negative row by at most √2·clip, so
 * a round releasing `rows` rows is charged as `rows` Gaussian mechanisms with noise multiplier
 * σ/(√2·clip + grid·√cols), just under z/√2 (the noise is a discrete Gaussian on the release grid,
 * shared/privacy/grid-gaussian.ts). The aggregator enforces the bound whatever a site sends: a site's summed rows
 * have negative entries set to 0 and are re-clipped to teachers·clip, so it cannot exceed its share.
 */
export class CentralGaussian implements Strategy {
  readonly name: string;
  readonly replyKind = 'soft_labels' as const;
  readonly inner: SoftLabelAverage;
  readonly options: CentralGaussianOptions;

  constructor(inner: SoftLabelAverage, options: CentralGaussianOptions) {
    check(Number.isFinite(options.clip) && options.clip > 0, 'clip', 'the clipping norm must be a positive number');
    check(Number.isFinite(options.noiseMultiplier) && options.noiseMultiplier > 0, 'noise_multiplier', 'must be a positive number');
    this.inner = inner;
    this.options = options;
    this.name = `${inner.name}+central-gaussian`;
  }

  configureRound(round: number, ctx: StrategyContext): RoundPlan {
    const plan = this.inner.configureRound(round, ctx);
    return { ...plan, params: { ...plan.params, clip: this.options.clip } };
  }

  aggregate(plan: RoundPlan, replies: readonly SiteReply[], failures: readonly SiteFailure[], ctx: StrategyContext): RoundRelease | null {
    if (replies.length < this.inner.options.minReplies) return null;
    const rows = plan.indices.length;
    // in float64 from here to the grid: nothing but the sites' own float32 transport rounds a row before the noise
    const clipped = replies.map((r) => {
      const soft = Float64Array.from(r.soft ?? new Float32Array(0));
      clampNegative(soft);
      return { ...r, soft: clipL2Rows(soft, r.rows, r.cols, this.options.clip * r.teachers) };
    });
    const { sum, teachers, cols } = this.inner.sum(plan, clipped);
    const { clip } = this.options;
    const std = this.options.noiseMultiplier * clip;
    addGridGaussian(sum, std, ctx.noise);
    // a site's row entries are ≤ its teachers·clip (every site's count is the run's teachers_per_site), float32 on the wire
    const teachersPerSite = Math.max(1, ...replies.map((r) => r.teachers));
    const transportUlp = float32Step(teachersPerSite * clip);
    const sensitivity = centralReleaseSensitivity(clip, cols, teachersPerSite);
    return {
      round: plan.round,
      indices: plan.indices,
      soft: this.inner.combine(sum, teachers, rows, cols),
      cols,
      events: [gaussianRowsCharge(std, sensitivity, rows)],
      mechanism: { kind: 'gaussian_rows', rows, cols, clip, noise_std: std, sensitivity, domain: 'probabilities', grid: RELEASE_GRID, transport_ulp: transportUlp, adjacency: 'replace-one' },
      metrics: { replies: replies.length, failures: failures.length, teachers, noise_std: std },
    };
  }
}
