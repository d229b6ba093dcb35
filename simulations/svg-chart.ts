// Renders a ChartSpec as a standalone SVG (no scripts, no external fonts): embeddable in report.html and viewable alone.
import { type ChartSpec, layoutChart } from './chart-model.ts';
import { escapeHtml } from '../shared/util/escape-html.ts';

const f = (v: number) => (Math.round(v * 10) / 10).toString();

/** The chart as SVG markup (UTF-8, with width/height so browsers size it without CSS). */
export function chartSvg(c: ChartSpec): string {
  const L = layoutChart(c);
  const { plot } = L;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}" font-family="sans-serif" font-size="12" role="img" aria-label="${escapeHtml(c.title)}">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="${plot.left}" y="22" font-size="15" font-weight="bold">${escapeHtml(c.title)}</text>`);
  for (const t of L.yTicks) {
    const y = f(L.y(t.value));
    out.push(`<line x1="${plot.left}" x2="${plot.right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${plot.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${escapeHtml(t.label)}</text>`);
  }
  for (const t of L.xTicks) {
    const x = f(L.x(t.value));
    out.push(`<line x1="${x}" x2="${x}" y1="${plot.top}" y2="${plot.bottom}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x}" y="${plot.bottom + 16}" text-anchor="middle" fill="#444">${escapeHtml(t.label)}</text>`);
  }
  out.push(`<rect x="${plot.left}" y="${plot.top}" width="${plot.right - plot.left}" height="${plot.bottom - plot.top}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${(plot.left + plot.right) / 2}" y="${L.height - 12}" text-anchor="middle">${escapeHtml(c.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(plot.top + plot.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(c.yLabel)}</text>`);
  for (const s of c.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!c.yLog || y > 0));
    if (pts.length === 0) continue;
    const d = pts.map(([x, y]) => `${f(L.x(x))},${f(L.y(y))}`).join(' ');
    out.push(`<polyline class="series" data-name="${escapeHtml(s.name)}" points="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}"${s.dash ? ' stroke-dasharray="6 4"' : ''}/>`);
    if (s.markers || pts.length === 1) for (const [x, y] of pts) out.push(`<circle cx="${f(L.x(x))}" cy="${f(L.y(y))}" r="3" fill="${s.color}"/>`);
  }
  L.legend.forEach((s, i) => {
    const y = plot.top + 8 + i * 18;
    out.push(`<line x1="${plot.right + 12}" x2="${plot.right + 36}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="${Math.max(2, s.width ?? 2)}"${s.dash ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${plot.right + 42}" y="${y}" dominant-baseline="middle">${escapeHtml(s.name.length > 18 ? s.name.slice(0, 17) + '…' : s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
