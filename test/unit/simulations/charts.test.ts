// Charts: tick choice, SVG structure, and a PNG rendering with ink where the series are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { layoutChart, niceTicks, formatTick, type ChartSpec } from '../../../simulations/chart-model.ts';
import { chartSvg } from '../../../simulations/svg-chart.ts';
import { chartPng } from '../../../simulations/png-chart.ts';

const spec: ChartSpec = {
  id: 'acc', title: 'Accuracy <per> round', xLabel: 'round', yLabel: 'accuracy', xInteger: true,
  series: [
    { name: 'mean', color: '#000000', points: [[0, 0.3], [1, 0.6], [2, 0.8]], markers: true },
    { name: 'site-1', color: '#ff0000', points: [[0, 0.2], [2, 0.7]], legend: false },
  ],
};

test('niceTicks picks round steps that cover the range', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(1, 20, 5, true), [5, 10, 15, 20]);
  assert.equal(formatTick(1_500_000), '1.5M');
  assert.equal(formatTick(0.25), '0.25');
});

test('layout maps data into the plot box; log scale ticks are powers of ten', () => {
  const L = layoutChart(spec);
  assert.equal(L.x(0), L.plot.left);
  assert.equal(L.x(2), L.plot.right);
  assert.ok(L.y(0.8) < L.y(0.3));
  assert.equal(L.legend.length, 1);
  const log = layoutChart({ ...spec, yLog: true, series: [{ name: 'b', color: '#000', points: [[1, 120], [2, 98_000]] }] });
  assert.deepEqual(log.yTicks.map((t) => t.value), [100, 1000, 10_000, 100_000]);
});

test('SVG has one polyline per series, escaped text and no scripts', () => {
  const svg = chartSvg(spec);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((svg.match(/<polyline class="series"/g) ?? []).length, 2);
  assert.match(svg, /Accuracy &lt;per&gt; round/);
  assert.doesNotMatch(svg, /<script/);
});

test('PNG rendering is the chart size and has coloured ink on the series', () => {
  const png = chartPng(spec);
  const w = png.readUInt32BE(16), h = png.readUInt32BE(20);
  assert.equal(w, 720);
  assert.equal(h, 380);
  const idatLen = png.readUInt32BE(33);
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  const L = layoutChart(spec);
  // the red site line passes through its first point
  const [x, y] = [Math.round(L.x(0)), Math.round(L.y(0.2))];
  const i = y * (w * 4 + 1) + 1 + x * 4;
  assert.deepEqual([raw[i], raw[i + 1], raw[i + 2]], [255, 0, 0]);
});
