// What the aggregator's round loop is given (options, the site hub) and what it reports (rounds, the run's summary).
import type { SecureSession, OutgoingRequest } from '../shared/channel/secure-session.ts';
import type { ReplyMessage } from '../protocols/messages.ts';
import type { AuditLog } from '../shared/audit/audit-log.ts';
import type { RunDatabase } from './run-database.ts';
import type { RunConfig } from './run-config.ts';
import type { SiteFailure, Strategy } from './strategies/strategy.ts';

/** The part of SecureServer the round loop needs (an in-memory hub in tests satisfies it too). */
export interface SiteHub {
  on(event: 'session', listener: (s: SecureSession) => void): unknown;
  session(siteName: string): SecureSession | undefined;
  readonly connectedSites: string[];
  /**
   * Every site that may join (the allowlist), when the hub knows it: a site that has not joined yet
   * can still take part, so a run is not ended for lack of sites that could still come.
   */
  readonly allowlistedSites?: string[];
  request(siteName: string, message: OutgoingRequest, opts?: { timeoutMs?: number }): Promise<ReplyMessage>;
}

export interface PublicSetRef { spec: string; hash: string; length: number; numClasses: number }

export interface RoundReport {
  round: number;
  participants: string[];
  failures: SiteFailure[];
  epsilon: number;
  metrics: Record<string, number>;
  siteMetrics: Record<string, Record<string, number>>;
  resumed: boolean;
}

export interface RunSummary {
  runId: string;
  /** 'stalled': a round stayed below quorum for `max_round_attempts` attempts (see `stalled`). */
  status: 'complete' | 'budget_exhausted' | 'stopped' | 'stalled';
  rounds: RoundReport[];
  epsilon: number;
  delta: number;
  /** Bytes sent and received per site over the run (this process's sessions). */
  bytes: Record<string, { sent: number; received: number }>;
  /** The run had ended before this start (complete or budget_exhausted): nothing ran. */
  alreadyEnded?: boolean;
  /** Set when status is 'stalled': the round that never reached its quorum, and what its last attempt got. */
  stalled?: { round: number; attempts: number; replies: number; quorum: number; failures: SiteFailure[] };
}

export interface AggregatorOptions {
  db: RunDatabase;
  config: RunConfig;
  strategy: Strategy;
  publicSet: PublicSetRef;
  hub: SiteHub;
  log?: (line: string) => void;
  /** Extra fields sites get in their Welcome (model hints, eval set...). */
  welcomeExtras?: Record<string, unknown>;
  /** Signed, hash-chained audit log; entries are written in the same transactions as what they record. */
  audit?: AuditLog;
}

