// The four charts of a simulation report: accuracy per round per site, ε per round, accuracy vs ε, bytes per round.
import { type ChartSpec, PALETTE, type Series } from './chart-model.ts';
import type { SimulationReport } from './report-data.ts';

/** Sites drawn one line each; beyond this only the mean is drawn (1,000 lines say nothing). */
const MAX_SITE_LINES = 30;

const flat = (name: string, color: string, y: number, x0: number, x1: number, dash = true): Series => ({ name, color, points: [[x0, y], [x1, y]], dash, width: 2 });

/** Chart specs for a report; rounds are 1-based on the x axis, round 0 = after local training. */
export function reportCharts(r: SimulationReport): ChartSpec[] {
  const last = Math.max(1, r.rounds.length);
  const accuracy: Series[] = [];
  if (r.sites.length <= MAX_SITE_LINES) {
    r.sites.forEach((site, i) => {
      const pts: [number, number][] = [];
      if (site.local_only_accuracy !== undefined) pts.push([0, site.local_only_accuracy]);
      for (const x of r.rounds) { const a = x.site_accuracy[site.name]; if (a !== undefined) pts.push([x.round + 1, a]); }
      accuracy.push({ name: site.name, color: PALETTE[i % PALETTE.length]!, points: pts, width: 1, legend: false });
    });
  }
  const meanPts: [number, number][] = [];
  if (r.summary.mean_local_only_accuracy !== null) meanPts.push([0, r.summary.mean_local_only_accuracy]);
  for (const x of r.rounds) if (x.mean_accuracy !== null) meanPts.push([x.round + 1, x.mean_accuracy]);
  // each round's point averages that round's participants: "of N" only when every site took part in every round
  const everyone = r.rounds.every((x) => x.participants === r.sites.length) && r.summary.sites_in_means === r.sites.length;
  accuracy.push({ name: `${r.scenario.strategy} (mean of ${everyone ? r.sites.length : 'participants'})`, color: '#000', points: meanPts, width: 3, markers: true });
  if (r.summary.mean_local_only_accuracy !== null) accuracy.push(flat('local-only (mean)', '#999', r.summary.mean_local_only_accuracy, 0, last));
  const fa = r.baselines.fedavg;
  if (fa && !fa.skipped) accuracy.push({ name: 'FedAvg', color: '#d62728', points: fa.rounds.map((x) => [x.round + 1, x.accuracy]), width: 2.5, markers: true });
  if (r.summary.centralized_accuracy !== null) accuracy.push(flat('centralized', '#2ca02c', r.summary.centralized_accuracy, 0, last));

  const eps: Series[] = [{ name: 'ε (run ledger)', color: '#9467bd', points: r.rounds.map((x) => [x.round + 1, x.epsilon]), markers: true }];
  // The budget line only when it is in sight; a huge budget would flatten the curve to the axis.
  const maxEps = Math.max(0, ...r.rounds.map((x) => x.epsilon));
  if (r.scenario.budget.epsilon <= 3 * maxEps) eps.push(flat(`budget ε=${r.scenario.budget.epsilon}`, '#999', r.scenario.budget.epsilon, 1, last));

  const accEps: Series[] = [{ name: 'mean site accuracy', color: '#000', points: r.rounds.filter((x) => x.mean_accuracy !== null).map((x) => [x.epsilon, x.mean_accuracy!]), markers: true }];

  const bytes: Series[] = [{ name: `${r.scenario.strategy} (up+down)`, color: '#1f77b4', points: r.rounds.map((x) => [x.round + 1, x.bytes_up + x.bytes_down]), markers: true }];
  if (fa && !fa.skipped) bytes.push({ name: 'FedAvg (weights)', color: '#d62728', points: fa.rounds.map((x) => [x.round + 1, x.bytes]), markers: true });

  return [
    { id: 'accuracy-per-round', title: 'Accuracy per round (each site, mean, baselines)', xLabel: 'round (0 = local training only)', yLabel: 'accuracy on eval set', series: accuracy, xInteger: true },
    { id: 'epsilon-per-round', title: `Privacy spent per round (δ = ${r.privacy.delta})`, xLabel: 'round', yLabel: 'ε', series: eps, xInteger: true, yMin: 0 },
    { id: 'accuracy-vs-epsilon', title: 'Accuracy vs ε', xLabel: 'ε spent', yLabel: 'mean site accuracy', series: accEps },
    { id: 'bytes-per-round', title: 'Bytes on the wire per round (log scale)', xLabel: 'round', yLabel: 'bytes', series: bytes, xInteger: true, yLog: true },
  ];
}
