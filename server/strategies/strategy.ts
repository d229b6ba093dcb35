// The strategy interface the round loop calls: what to ask the sites, and how to combine their replies.
//
// Strategies see only messages (plans, replies, failures), never sockets or the database, so the
// same strategy runs in a deployment, in a simulation and in a unit test. Privacy wrappers
// (central-gaussian.ts) compose around a strategy instead of living inside it.
import type { PrivacyEvent } from '../../shared/privacy/events.ts';
import type { MechanismRecord } from '../../shared/audit/mechanism-record.ts';
import type { SeededRng } from '../../shared/util/prng.ts';
import type { CryptoRng } from '../../shared/privacy/rng.ts';

/** What sites return on the public samples of a round. */
export type ReplyKind = 'vote_histogram' | 'soft_labels';

/** A round's query: which public samples, and what kind of reply. */
export interface RoundPlan {
  round: number;
  /** Indices into the run's public set. */
  indices: Uint32Array;
  replyKind: ReplyKind;
  /** Parameters sites apply before replying (e.g. temperature for soft labels). */
  params: Record<string, number>;
}

/**
 * One site's reply. `votes`: rows × classes vote histograms (one per public sample; a site with
 * k teachers contributes k votes per row). `soft`: rows × classes soft labels, one row per
 * sample per teacher already summed over the site's teachers (`teachers` of them).
 */
export interface SiteReply {
  site: string;
  rows: number;
  cols: number;
  teachers: number;
  votes?: Int32Array;
  /** float32 as it arrives; a privacy wrapper may pass float64 rows on to the strategy it wraps. */
  soft?: Float32Array | Float64Array;
}

/** Why a site is not in a round's replies. */
/** Why an asked site's reply is not in a round. */
export const SITE_FAILURE_REASONS = ['timeout', 'disconnected', 'error', 'invalid'] as const;

export interface SiteFailure {
  site: string;
  reason: (typeof SITE_FAILURE_REASONS)[number];
  detail?: string;
}

/** What the aggregator releases for a round, and what it costs. */
export interface RoundRelease {
  round: number;
  indices: Uint32Array;
  /** Hard labels per public sample; −1 = not answered (PATE). */
  labels?: Int32Array;
  /** rows × cols consensus soft labels. */
  soft?: Float32Array;
  cols: number;
  /** Privacy events to charge (all of them, in one ledger step) before releasing. */
  events: PrivacyEvent[];
  /** What was released and how it was noised, logged beside the events so an auditor can check the charge. */
  mechanism?: MechanismRecord;
  metrics: Record<string, number>;
}

export interface StrategyContext {
  /** Size of the public set the indices address. */
  publicSize: number;
  numClasses: number;
  /** Seeded RNG for query selection (not for privacy noise). */
  rng: SeededRng;
  /** Cryptographic RNG for privacy noise. */
  noise: CryptoRng;
}

/** A federated-distillation strategy. `aggregate` returns null when the round cannot release. */
export interface Strategy {
  readonly name: string;
  readonly replyKind: ReplyKind;
  configureRound(round: number, ctx: StrategyContext): RoundPlan;
  aggregate(plan: RoundPlan, replies: readonly SiteReply[], failures: readonly SiteFailure[], ctx: StrategyContext): RoundRelease | null;
}

/** How many public samples a round of `queries` asks: all of them when the public set is smaller (what the plan and the audit log count). */
export function rowsPerRound(queries: number, publicSize: number): number {
  return Math.min(queries, publicSize);
}

/** Picks `count` distinct public indices for a round, seeded (sorted for locality): `rowsPerRound(count, publicSize)` of them. */
export function samplePublicIndices(publicSize: number, count: number, rng: SeededRng): Uint32Array {
  if (rowsPerRound(count, publicSize) === publicSize) return Uint32Array.from({ length: publicSize }, (_, i) => i);
  const perm = rng.permutation(publicSize);
  return perm.slice(0, count).sort();
}
