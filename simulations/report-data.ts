// The simulation report as data (report.json) and as a long-format table (metrics.csv): one source for charts and HTML.
import type { CentralizedResult, FedAvgResult } from './baselines.ts';
import type { FederatedOutcome } from './federated-outcome.ts';
import type { Scenario } from './scenario.ts';

export interface RoundRow {
  round: number;
  participants: number;
  failures: { site: string; reason: string }[];
  epsilon: number;
  meanAccuracy: number | null;
  siteAccuracy: Record<string, number>;
  bytesUp: number;
  bytesDown: number;
}

export interface SimulationReport {
  fedistill: { report: 'simulation'; version: 1 };
  scenario: {
    name: string; file?: string; seed: number; mode: string; strategy: string; sites: number; rounds: number;
    dataset: string; publicSet: string; evalSet: string; partition: Record<string, unknown>;
    privacyUnit: string; teachersPerSite: number; noiseMultiplier: number; clip: number; budget: { epsilon: number; delta: number };
    /** True when noise was seeded for reproducibility: such a run is NOT private. */
    seededNoise: boolean;
  };
  command: string;
  startedAt: string;
  seconds: { total: number; prepare: number; rounds: number; baselines: number };
  status: string;
  privacy: { epsilon: number; delta: number; ledgerReplayEpsilon: number; ledgerEvents: number; replayMatches: boolean };
  rounds: RoundRow[];
  sites: FederatedOutcome['sites'];
  faults: FederatedOutcome['faults'];
  aggregatorRestarts: number;
  summary: {
    meanLocalOnlyAccuracy: number | null;
    meanFinalAccuracy: number | null;
    /** Distillation traffic, both directions, all rounds (secure-channel bytes incl. handshakes). */
    totalBytes: number;
    centralizedAccuracy: number | null;
    fedavgAccuracy: number | null;
    fedavgTotalBytes: number | null;
  };
  baselines: { centralized: CentralizedResult | null; fedavg: FedAvgResult | null };
  memory: { peakRssMiB: number };
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
  partition: Record<string, unknown>;
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
      epsilon: r.epsilon, meanAccuracy: meanOf(Object.values(siteAccuracy)), siteAccuracy,
      bytesUp: t?.bytesUp ?? 0, bytesDown: t?.bytesDown ?? 0,
    };
  });
  const fedavg = i.fedavg && !i.fedavg.skipped ? i.fedavg : null;
  const tolerance = 1e-9 * Math.max(1, o.summary.epsilon);
  return {
    fedistill: { report: 'simulation', version: 1 },
    scenario: {
      name: s.name, ...(i.scenarioFile ? { file: i.scenarioFile } : {}), seed: s.seed, mode: o.mode, strategy: s.strategy.name,
      sites: s.sites.count, rounds: s.rounds, dataset: s.data.dataset, publicSet: s.data.publicSet, evalSet: s.data.evalSet,
      partition: i.partition, privacyUnit: s.privacy.unit, teachersPerSite: s.privacy.teachersPerSite,
      noiseMultiplier: s.privacy.noiseMultiplier, clip: s.privacy.clip, budget: { epsilon: s.privacy.epsilon, delta: s.privacy.delta },
      seededNoise: s.privacy.testNoiseSeed !== undefined,
    },
    command: i.command,
    startedAt: i.startedAt.toISOString(),
    seconds: { total: i.seconds.total, prepare: o.seconds.prepare, rounds: o.seconds.rounds, baselines: i.seconds.baselines },
    status: o.summary.status,
    privacy: {
      epsilon: o.summary.epsilon, delta: o.summary.delta, ledgerReplayEpsilon: o.ledgerReplay.epsilon, ledgerEvents: o.ledgerReplay.events,
      replayMatches: Math.abs(o.ledgerReplay.epsilon - o.summary.epsilon) <= tolerance,
    },
    rounds,
    sites: o.sites,
    faults: o.faults,
    aggregatorRestarts: o.aggregatorRestarts,
    summary: {
      meanLocalOnlyAccuracy: meanOf(o.sites.map((x) => x.localOnlyAccuracy)),
      meanFinalAccuracy: meanOf(o.sites.filter((x) => !x.crashed).map((x) => x.finalAccuracy)),
      totalBytes: o.traffic.reduce((a, t) => a + t.bytesUp + t.bytesDown, 0),
      centralizedAccuracy: i.centralized?.accuracy ?? null,
      fedavgAccuracy: fedavg?.finalAccuracy ?? null,
      fedavgTotalBytes: fedavg?.totalBytes ?? null,
    },
    baselines: { centralized: i.centralized, fedavg: i.fedavg },
    memory: { peakRssMiB: Math.round(i.peakRssBytes / 2 ** 20) },
  };
}

const csvCell = (v: string | number): string => (typeof v === 'number' ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** metrics.csv: one row per (source, round, site, metric) — easy to pivot in any tool. */
export function metricsCsv(r: SimulationReport): string {
  const rows: (string | number)[][] = [['source', 'round', 'site', 'metric', 'value']];
  for (const site of r.sites) {
    if (site.localOnlyAccuracy !== undefined) rows.push(['local-only', 0, site.name, 'accuracy', site.localOnlyAccuracy]);
  }
  for (const x of r.rounds) {
    const round = x.round + 1;
    for (const [site, acc] of Object.entries(x.siteAccuracy)) rows.push(['distillation', round, site, 'accuracy', acc]);
    if (x.meanAccuracy !== null) rows.push(['distillation', round, 'mean', 'accuracy', x.meanAccuracy]);
    rows.push(['distillation', round, 'all', 'epsilon', x.epsilon]);
    rows.push(['distillation', round, 'all', 'participants', x.participants]);
    rows.push(['distillation', round, 'all', 'bytes_up', x.bytesUp]);
    rows.push(['distillation', round, 'all', 'bytes_down', x.bytesDown]);
  }
  const fa = r.baselines.fedavg;
  if (fa && !fa.skipped) for (const x of fa.rounds) {
    rows.push(['fedavg', x.round + 1, 'global', 'accuracy', x.accuracy]);
    rows.push(['fedavg', x.round + 1, 'all', 'bytes', x.bytes]);
  }
  const c = r.baselines.centralized;
  if (c) c.perEpoch.forEach((acc, e) => rows.push(['centralized', e + 1, 'global', 'accuracy', acc]));
  return rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}
