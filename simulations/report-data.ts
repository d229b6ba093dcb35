// The simulation report as data (report.json) and as a long-format table (metrics.csv): one source for charts and HTML.
import type { PartitionSummary } from '../shared/data/partition.ts';
import type { CentralizedResult, FedAvgResult, FedAvgRound } from './baselines.ts';
import type { FederatedOutcome, SiteOutcome } from './federated-outcome.ts';
import type { Scenario } from './scenario.ts';
import type { FaultEvent } from './simulation-hub.ts';

// report.json is a file format read by scripts: its keys are snake_case like every fedistill output;
// the run's own objects (FederatedOutcome, baselines) keep camelCase and are converted here, field by field.

export interface RoundRow {
  round: number;
  participants: number;
  failures: { site: string; reason: string }[];
  epsilon: number;
  mean_accuracy: number | null;
  /** Keyed by site name (data, not a field name). */
  site_accuracy: Record<string, number>;
  bytes_up: number;
  bytes_down: number;
}

export interface SiteRow {
  name: string;
  model: string;
  private_samples: number;
  /** Accuracy on the eval set after local training only (before any round); absent when not measured. */
  local_only_accuracy?: number;
  /** Accuracy after the last consensus it digested; absent when not measured. */
  final_accuracy?: number;
  /** The site's own worst-case ε bound from its ledger (what left it). */
  ledger_epsilon: number;
  bytes_up: number;
  bytes_down: number;
  crashed: boolean;
}

export interface CentralizedRow { accuracy: number; epochs: number; samples: number; seconds: number; per_epoch: number[] }

export type FedAvgRow =
  | { skipped: false; rounds: FedAvgRound[]; final_accuracy: number; total_bytes: number; parameters: number; seconds: number }
  | { skipped: true; reason: string };

/** The scenario's partition settings with the figures of the partition they gave. */
export interface PartitionRow {
  scheme: string; alpha?: number; shards?: number; sigma?: number; seed: number;
  clients: number; assigned: number; sizes: PartitionSummary['sizes'];
  mean_largest_class_share: number; mean_classes_present: number;
}

/** report.json. Version 2: snake_case keys (version 1 had camelCase ones). */
export interface SimulationReport {
  fedistill: { report: 'simulation'; version: 2 };
  scenario: {
    name: string; file?: string; seed: number; mode: string; strategy: string; sites: number; rounds: number;
    dataset: string; public_set: string; eval_set: string; partition: PartitionRow;
    privacy_unit: string; teachers_per_site: number; noise_multiplier: number; clip: number; budget: { epsilon: number; delta: number };
    /** True when noise was seeded for reproducibility: such a run is NOT private. */
    seeded_noise: boolean;
  };
  command: string;
  started_at: string;
  seconds: { total: number; prepare: number; rounds: number; baselines: number };
  status: string;
  privacy: { epsilon: number; delta: number; ledger_replay_epsilon: number; ledger_events: number; replay_matches: boolean };
  rounds: RoundRow[];
  sites: SiteRow[];
  faults: FaultEvent[];
  aggregator_restarts: number;
  summary: {
    /** Both means cover the same sites: those that did not crash (`sites_in_means` of them). */
    mean_local_only_accuracy: number | null;
    mean_final_accuracy: number | null;
    sites_in_means: number;
    /** Distillation traffic, both directions, all rounds (secure-channel bytes incl. handshakes). */
    total_bytes: number;
    centralized_accuracy: number | null;
    fedavg_accuracy: number | null;
    fedavg_total_bytes: number | null;
  };
  baselines: { centralized: CentralizedRow | null; fedavg: FedAvgRow | null };
  memory: { peak_rss_mib: number };
}

function meanOf(xs: readonly (number | undefined | null)[]): number | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

export interface ReportInput {
  scenario: Scenario;
  scenarioFile?: string;
  outcome: FederatedOutcome;
  centralized: CentralizedResult | null;
  fedavg: FedAvgResult | null;
  command: string;
  startedAt: Date;
  seconds: { total: number; baselines: number };
  peakRssBytes: number;
  /** The figures of the partition the scenario's settings gave. */
  partition: PartitionSummary;
}

function siteRow(x: SiteOutcome): SiteRow {
  return {
    name: x.name, model: x.model, private_samples: x.privateSamples,
    ...(x.localOnlyAccuracy !== undefined ? { local_only_accuracy: x.localOnlyAccuracy } : {}),
    ...(x.finalAccuracy !== undefined ? { final_accuracy: x.finalAccuracy } : {}),
    ledger_epsilon: x.ledgerEpsilon, bytes_up: x.bytesUp, bytes_down: x.bytesDown, crashed: x.crashed,
  };
}

function centralizedRow(c: CentralizedResult | null): CentralizedRow | null {
  return c && { accuracy: c.accuracy, epochs: c.epochs, samples: c.samples, seconds: c.seconds, per_epoch: c.perEpoch };
}

function fedavgRow(f: FedAvgResult | null): FedAvgRow | null {
  if (!f || f.skipped) return f;
  return {
    skipped: false, rounds: f.rounds.map((x) => ({ round: x.round, accuracy: x.accuracy, participants: x.participants, bytes: x.bytes })),
    final_accuracy: f.finalAccuracy, total_bytes: f.totalBytes, parameters: f.parameters, seconds: f.seconds,
  };
}

function partitionRow(settings: Scenario['data']['partition'], p: PartitionSummary): PartitionRow {
  return {
    ...settings, clients: p.clients, assigned: p.assigned, sizes: p.sizes,
    mean_largest_class_share: p.meanLargestClassShare, mean_classes_present: p.meanClassesPresent,
  };
}

/** Assembles report.json from what the run, the ledger replay and the baselines produced. */
export function buildReport(i: ReportInput): SimulationReport {
  const { scenario: s, outcome: o } = i;
  const traffic = new Map(o.traffic.map((t) => [t.round, t]));
  const rounds: RoundRow[] = o.summary.rounds.map((r) => {
    const siteAccuracy: Record<string, number> = {};
    for (const [site, m] of Object.entries(r.siteMetrics).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) if (typeof m.accuracy === 'number') siteAccuracy[site] = m.accuracy;
    const t = traffic.get(r.round);
    return {
      round: r.round, participants: r.participants.length, failures: r.failures.map((f) => ({ site: f.site, reason: f.reason })),
      epsilon: r.epsilon, mean_accuracy: meanOf(Object.values(siteAccuracy)), site_accuracy: siteAccuracy,
      bytes_up: t?.bytesUp ?? 0, bytes_down: t?.bytesDown ?? 0,
    };
  });
  const fedavg = i.fedavg && !i.fedavg.skipped ? i.fedavg : null;
  const finished = o.sites.filter((x) => !x.crashed);
  const tolerance = 1e-9 * Math.max(1, o.summary.epsilon);
  return {
    fedistill: { report: 'simulation', version: 2 },
    scenario: {
      name: s.name, ...(i.scenarioFile ? { file: i.scenarioFile } : {}), seed: s.seed, mode: o.mode, strategy: s.strategy.name,
      sites: s.sites.count, rounds: s.rounds, dataset: s.data.dataset, public_set: s.data.publicSet, eval_set: s.data.evalSet,
      partition: partitionRow(s.data.partition, i.partition), privacy_unit: s.privacy.unit, teachers_per_site: s.privacy.teachersPerSite,
      noise_multiplier: s.privacy.noiseMultiplier, clip: s.privacy.clip, budget: { epsilon: s.privacy.epsilon, delta: s.privacy.delta },
      seeded_noise: s.privacy.testNoiseSeed !== undefined,
    },
    command: i.command,
    started_at: i.startedAt.toISOString(),
    seconds: { total: i.seconds.total, prepare: o.seconds.prepare, rounds: o.seconds.rounds, baselines: i.seconds.baselines },
    status: o.summary.status,
    privacy: {
      epsilon: o.summary.epsilon, delta: o.summary.delta, ledger_replay_epsilon: o.ledgerReplay.epsilon, ledger_events: o.ledgerReplay.events,
      replay_matches: Math.abs(o.ledgerReplay.epsilon - o.summary.epsilon) <= tolerance,
    },
    rounds,
    sites: o.sites.map(siteRow),
    faults: o.faults.map((f) => ({ round: f.round, site: f.site, fault: f.fault })),
    aggregator_restarts: o.aggregatorRestarts,
    summary: {
      // like for like: a crashed site's final figure is not the run's, so it leaves both means
      mean_local_only_accuracy: meanOf(finished.map((x) => x.localOnlyAccuracy)),
      mean_final_accuracy: meanOf(finished.map((x) => x.finalAccuracy)),
      sites_in_means: finished.length,
      total_bytes: o.traffic.reduce((a, t) => a + t.bytesUp + t.bytesDown, 0),
      centralized_accuracy: i.centralized?.accuracy ?? null,
      fedavg_accuracy: fedavg?.finalAccuracy ?? null,
      fedavg_total_bytes: fedavg?.totalBytes ?? null,
    },
    baselines: { centralized: centralizedRow(i.centralized), fedavg: fedavgRow(i.fedavg) },
    memory: { peak_rss_mib: Math.round(i.peakRssBytes / 2 ** 20) },
  };
}

const csvCell = (v: string | number): string => (typeof v === 'number' ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** metrics.csv: one row per (source, round, site, metric) — easy to pivot in any tool. */
export function metricsCsv(r: SimulationReport): string {
  const rows: (string | number)[][] = [['source', 'round', 'site', 'metric', 'value']];
  for (const site of r.sites) {
    if (site.local_only_accuracy !== undefined) rows.push(['local-only', 0, site.name, 'accuracy', site.local_only_accuracy]);
  }
  for (const x of r.rounds) {
    const round = x.round + 1;
    for (const [site, acc] of Object.entries(x.site_accuracy)) rows.push(['distillation', round, site, 'accuracy', acc]);
    if (x.mean_accuracy !== null) rows.push(['distillation', round, 'mean', 'accuracy', x.mean_accuracy]);
    rows.push(['distillation', round, 'all', 'epsilon', x.epsilon]);
    rows.push(['distillation', round, 'all', 'participants', x.participants]);
    rows.push(['distillation', round, 'all', 'bytes_up', x.bytes_up]);
    rows.push(['distillation', round, 'all', 'bytes_down', x.bytes_down]);
  }
  const fa = r.baselines.fedavg;
  if (fa && !fa.skipped) for (const x of fa.rounds) {
    rows.push(['fedavg', x.round + 1, 'global', 'accuracy', x.accuracy]);
    rows.push(['fedavg', x.round + 1, 'all', 'bytes', x.bytes]);
  }
  const c = r.baselines.centralized;
  if (c) c.per_epoch.forEach((acc, e) => rows.push(['centralized', e + 1, 'global', 'accuracy', acc]));
  return rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}
