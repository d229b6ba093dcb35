// What one federated-distillation simulation produced, whichever mode ran it: the input to baselines and reports.
import type { RunSummary } from '../server/aggregator.ts';
import type { FaultEvent, RoundTraffic } from './simulation-hub.ts';

export type SimulationMode = 'in-process' | 'loopback';

export interface SiteOutcome {
  name: string;
  model: string;
  privateSamples: number;
  /** Accuracy on the eval set after local training only (before any round). */
  localOnlyAccuracy: number | undefined;
  /** Accuracy after the last consensus it digested. */
  finalAccuracy: number | undefined;
  /** The site's own worst-case ε bound from its ledger (what left it). */
  ledgerEpsilon: number;
  /** Bytes this site sent to / received from the aggregator (aggregator's side of its sessions). */
  bytesUp: number;
  bytesDown: number;
  crashed: boolean;
}

export interface FederatedOutcome {
  mode: SimulationMode;
  summary: RunSummary;
  sites: SiteOutcome[];
  traffic: RoundTraffic[];
  faults: FaultEvent[];
  /** ε recomputed from the ledger's events by the accountant (an auditor's replay). */
  ledgerReplay: { epsilon: number; events: number };
  aggregatorRestarts: number;
  seconds: { prepare: number; rounds: number };
}
