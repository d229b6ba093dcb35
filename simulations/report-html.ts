// report.html: one self-contained page (inline CSS and SVG, no scripts, no network) that opens offline.
import type { ChartSpec } from './chart-model.ts';
import type { SimulationReport } from './report-data.ts';
import { chartSvg } from './svg-chart.ts';
import { escapeHtml } from '../shared/util/escape-html.ts';

const esc = (t: unknown) => escapeHtml(String(t));
const pct = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : 'n/a');
const num = (v: number | null | undefined, d = 3) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : 'n/a');

/** Bytes for people: 1.2 MiB. */
export function formatBytes(b: number | null | undefined): string {
  if (typeof b !== 'number' || !Number.isFinite(b)) return 'n/a';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = b;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

function table(head: string[], rows: (string | number)[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** The whole report page. */
export function reportHtml(r: SimulationReport, charts: ChartSpec[]): string {
  const s = r.scenario;
  const fa = r.baselines.fedavg;
  const over = r.summary.sites_in_means === r.sites.length ? 'mean over sites' : `mean over the ${r.summary.sites_in_means} sites that did not crash`;
  const comparison = table(['approach', 'accuracy', 'bytes on the wire', 'privacy'], [
    [`${s.strategy} (${over})`, pct(r.summary.mean_final_accuracy), formatBytes(r.summary.total_bytes), `ε = ${num(r.privacy.epsilon)} at δ = ${r.privacy.delta}`],
    [`local-only (${over})`, pct(r.summary.mean_local_only_accuracy), '0 B', 'nothing leaves a site'],
    ['FedAvg (global model)', fa && fa.skipped ? `skipped: ${fa.reason}` : pct(r.summary.fedavg_accuracy), formatBytes(r.summary.fedavg_total_bytes), 'none (weights in the clear)'],
    ['centralized (upper bound)', pct(r.summary.centralized_accuracy), 'all private data moved', 'none'],
  ]);
  const rounds = table(['round', 'sites', 'failures', 'ε', 'mean accuracy', 'bytes up', 'bytes down'],
    r.rounds.map((x) => [x.round + 1, x.participants, x.failures.map((f) => `${f.site}: ${f.reason}`).join(', ') || '—', num(x.epsilon), pct(x.mean_accuracy), formatBytes(x.bytes_up), formatBytes(x.bytes_down)]));
  const sites = table(['site', 'model', 'private samples', 'local-only', 'final', 'own ε bound', 'sent', 'received'],
    r.sites.slice(0, 200).map((x) => [x.name + (x.crashed ? ' (crashed)' : ''), x.model, x.private_samples, pct(x.local_only_accuracy), pct(x.final_accuracy), num(x.ledger_epsilon), formatBytes(x.bytes_up), formatBytes(x.bytes_down)]));
  const warn = s.seeded_noise
    ? '<p class="warn">This run seeded its privacy noise (privacy.test_noise_seed) so that it is reproducible. Seeded noise is NOT private: use it for tests only.</p>'
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fedistill simulation: ${esc(s.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f4f4f4}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}.charts figure{margin:0;border:1px solid #eee}.charts svg{width:100%;height:auto;display:block}
.warn{background:#fff4e5;border:1px solid #f0a030;padding:8px}.ok{color:#2a7a2a}.bad{color:#b00020}
pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}
</style></head><body>
<h1>Simulation “${esc(s.name)}” — ${esc(s.strategy)}, ${s.sites} sites, ${r.rounds.length}/${s.rounds} rounds (${esc(s.mode)})</h1>
<p>Status <b>${esc(r.status)}</b> in ${num(r.seconds.total, 1)} s. Privacy unit: <b>${esc(s.privacy_unit)}</b>${s.privacy_unit === 'example' ? ` (${s.teachers_per_site} teachers per site on disjoint shards)` : ' (one teacher per site)'}; noise multiplier ${s.noise_multiplier}, clip ${s.clip}, budget ε ≤ ${s.budget.epsilon} at δ = ${s.budget.delta}.</p>
${warn}
<h2>Side by side</h2>
${comparison}
<p>Ledger: ε = ${num(r.privacy.epsilon, 6)}; the accountant's replay of its ${r.privacy.ledger_events} events gives ε = ${num(r.privacy.ledger_replay_epsilon, 6)} —
<span class="${r.privacy.replay_matches ? 'ok' : 'bad'}">${r.privacy.replay_matches ? 'they match' : 'MISMATCH'}</span>.</p>
<h2>Charts</h2>
<div class="charts">${charts.map((c) => `<figure id="chart-${c.id}">${chartSvg(c)}</figure>`).join('\n')}</div>
<h2>Rounds</h2>
${rounds}
<h2>Sites</h2>
${sites}${r.sites.length > 200 ? `<p>… and ${r.sites.length - 200} more in report.json.</p>` : ''}
${r.faults.length ? `<h2>Faults injected</h2>${table(['round', 'site', 'fault'], r.faults.map((f) => [f.round + 1, f.site, f.fault]))}` : ''}
${r.aggregator_restarts ? `<p>The aggregator was restarted ${r.aggregator_restarts} time(s) and resumed from its database.</p>` : ''}
<h2>Scenario</h2>
<pre>${esc(JSON.stringify(s, null, 2))}</pre>
<p>Reproduce: <code>${esc(r.command)}</code> · peak memory ${r.memory.peak_rss_mib} MiB · started ${esc(r.started_at)}</p>
</body></html>
`;
}
