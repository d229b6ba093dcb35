// Test-only reproducibility: a strategy wrapper whose privacy noise comes from a seeded stream instead of the OS CSPRNG.
//
// Seeded noise is NOT private (anyone with the seed can subtract it). It exists so that one
// scenario gives the same numbers in both simulation modes and on every rerun; reports say so.
import { CryptoRng, type RandomSource } from '../shared/privacy/rng.ts';
import { SeededRng } from '../shared/util/prng.ts';
import type { RoundPlan, RoundRelease, SiteFailure, SiteReply, Strategy, StrategyContext } from '../server/strategies/strategy.ts';

/** A RandomSource drawing 32-bit words from xoshiro128** (deterministic; for tests only). */
export function seededRandomSource(seed: string): RandomSource {
  const rng = new SeededRng(seed);
  return { fill(words: Uint32Array): void { for (let i = 0; i < words.length; i++) words[i] = rng.nextU32(); } };
}

/** Wraps a strategy so that round r's noise is drawn from seed (testNoiseSeed, r): resumed rounds redraw the same noise. */
export class SeededNoiseStrategy implements Strategy {
  readonly name: string;
  readonly replyKind: Strategy['replyKind'];

  constructor(private readonly inner: Strategy, private readonly seed: number) {
    this.name = inner.name;
    this.replyKind = inner.replyKind;
  }

  configureRound(round: number, ctx: StrategyContext): RoundPlan {
    return this.inner.configureRound(round, ctx);
  }

  aggregate(plan: RoundPlan, replies: readonly SiteReply[], failures: readonly SiteFailure[], ctx: StrategyContext): RoundRelease | null {
    const noise = new CryptoRng(seededRandomSource(`fedistill/sim-noise/${this.seed}/${plan.round}`));
    return this.inner.aggregate(plan, replies, failures, { ...ctx, noise });
  }
}
