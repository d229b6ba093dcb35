// The audit report as one self-contained HTML page (inline CSS and SVG chart, no scripts, no network).
import { type AuditReport, type ScopeReport, privacyUnitText, roundLabel } from './audit-report.ts';
import { formatProblem } from './audit-problem.ts';
import { escapeHtml } from '../util/escape-html.ts';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

/**
 * ε of every scope against release order (x = the release's position in the log), with each
 * scope's budget as a dashed line of the same colour.
 */
function epsilonChartSvg(scopes: readonly ScopeReport[], width = 720, height = 320): string {
  const pad = { l: 56, r: 16, t: 16, b: 40 };
  const seqs = [...new Set(scopes.flatMap((s) => s.series.map((p) => p.seq)))].sort((a, b) => a - b);
  const xOf = new Map(seqs.map((q, i) => [q, i]));
  const yMax = Math.max(1e-12, ...scopes.flatMap((s) => [...s.series.map((p) => p.epsilon), s.budget_epsilon ?? 0])) * 1.05;
  const w = width - pad.l - pad.r;
  const hh = height - pad.t - pad.b;
  const x = (i: number) => pad.l + (seqs.length <= 1 ? w / 2 : (i / (seqs.length - 1)) * w);
  const y = (v: number) => pad.t + hh - (v / yMax) * hh;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="epsilon spent per scope over releases">`,
    `<rect x="${pad.l}" y="${pad.t}" width="${w}" height="${hh}" fill="#fafafa" stroke="#ccc"/>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    parts.push(`<line x1="${pad.l}" x2="${pad.l + w}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`,
      `<text x="${pad.l - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${v.toPrecision(3)}</text>`);
  }
  parts.push(`<text x="${pad.l + w / 2}" y="${height - 8}" font-size="12" text-anchor="middle">release (in log order)</text>`,
    `<text x="14" y="${pad.t + hh / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${pad.t + hh / 2})">ε</text>`);
  scopes.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!;
    if (s.budget_epsilon !== null) {
      parts.push(`<line x1="${pad.l}" x2="${pad.l + w}" y1="${y(s.budget_epsilon).toFixed(1)}" y2="${y(s.budget_epsilon).toFixed(1)}" stroke="${color}" stroke-dasharray="6 4"><title>${escapeHtml(`${s.scope} budget ε = ${s.budget_epsilon}`)}</title></line>`);
    }
    const pts = s.series.map((p) => `${x(xOf.get(p.seq)!).toFixed(1)},${y(p.epsilon).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    for (const p of s.series) {
      parts.push(`<circle cx="${x(xOf.get(p.seq)!).toFixed(1)}" cy="${y(p.epsilon).toFixed(1)}" r="3" fill="${color}"><title>${escapeHtml(`${s.scope}, seq ${p.seq}, round ${roundLabel(p.round)}: ε = ${p.epsilon}`)}</title></circle>`);
    }
    parts.push(`<text x="${pad.l + 8}" y="${pad.t + 14 + 14 * k}" font-size="12" fill="${color}">${escapeHtml(s.scope)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function row(cells: (string | number | null)[], tag = 'td'): string {
  return '<tr>' + cells.map((c) => `<${tag}>${escapeHtml(c === null ? '-' : String(c))}</${tag}>`).join('') + '</tr>';
}

/** The whole report as HTML that opens offline in any browser. */
export function formatAuditReportHtml(r: AuditReport): string {
  const title = `fedistill audit — run ${r.run_id}${r.site ? `, site ${r.site}` : ''}`;
  const status = r.verified
    ? `<p class="ok">Verified: chain, hashes, signatures and every reported ε check out (${r.entries} entries${r.finished ? ', run finished' : ', run not finished'}).</p>`
    : `<p class="bad">NOT verified: ${escapeHtml(r.problem ? formatProblem(r.problem) : 'unknown problem')}. Figures cover only the ${r.entries} entries before the problem.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f0f0f0}.ok{color:#1a7f37}.bad{color:#b42318;font-weight:bold}code{font-size:.9em}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
${status}
<p>Signed by <code>${escapeHtml(r.public_key)}</code> (fingerprint <code>${escapeHtml(r.fingerprint ?? '?')}</code>).
Period ${escapeHtml(r.first_at ?? '-')} to ${escapeHtml(r.last_at ?? '-')}. Sites: ${escapeHtml(r.sites.join(', ') || '(none)')}.
Privacy unit: ${escapeHtml(privacyUnitText(r.privacy_unit))}.</p>
<h2>Privacy spent</h2>
${epsilonChartSvg(r.scopes)}
<table>${row(['scope', 'ε spent', 'δ', 'budget ε', 'ε left', 'releases'], 'th')}
${r.scopes.map((s) => row([s.scope, s.epsilon_spent, s.delta, s.budget_epsilon, s.epsilon_left, s.releases])).join('\n')}</table>
<h2>Mechanisms</h2>
<table>${row(['event type', 'events', 'occurrences'], 'th')}
${r.mechanisms.map((m) => row([m.type, m.events, m.occurrences])).join('\n')}</table>
<h2>Releases and queries</h2>
<table>${row(['releases', 'refused for budget', 'queries answered', 'queries refused'], 'th')}
${row([r.releases, r.releases_refused, r.queries.answered, r.queries.refused])}</table>
<h2>Per release</h2>
<table>${row(['scope', 'seq', 'round', 'time', 'ε after'], 'th')}
${r.scopes.flatMap((s) => s.series.map((p) => row([s.scope, p.seq, roundLabel(p.round), p.at, p.epsilon]))).join('\n')}</table>
</body></html>
`;
}
