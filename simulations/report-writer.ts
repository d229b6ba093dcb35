// Writes a simulation's report folder: report.json, metrics.csv, charts/*.svg and *.png, report.html.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartPng } from './png-chart.ts';
import { reportCharts } from './report-charts.ts';
import { metricsCsv, type SimulationReport } from './report-data.ts';
import { reportHtml } from './report-html.ts';
import { chartSvg } from './svg-chart.ts';

/** Writes every report file into `out` and returns their paths. */
export function writeReport(out: string, r: SimulationReport): { json: string; csv: string; html: string; charts: string[] } {
  mkdirSync(join(out, 'charts'), { recursive: true });
  const charts = reportCharts(r);
  const files: string[] = [];
  for (const c of charts) {
    const svg = join(out, 'charts', `${c.id}.svg`);
    const png = join(out, 'charts', `${c.id}.png`);
    writeFileSync(svg, chartSvg(c));
    writeFileSync(png, chartPng(c));
    files.push(svg, png);
  }
  const json = join(out, 'report.json');
  const csv = join(out, 'metrics.csv');
  const html = join(out, 'report.html');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(csv, metricsCsv(r));
  writeFileSync(html, reportHtml(r, charts));
  return { json, csv, html, charts: files };
}
