// Line charts as data plus their layout (plot box, scales, ticks): shared by the SVG and PNG renderers so both draw the same picture.

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dash?: boolean;
  width?: number;
  markers?: boolean;
  /** Drawn but left out of the legend (e.g. one thin line per site). */
  legend?: boolean;
}

export interface ChartSpec {
  /** File stem: charts/<id>.svg and .png. */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  yLog?: boolean;
  yMin?: number;
  yMax?: number;
  /** Integer ticks on x (rounds). */
  xInteger?: boolean;
}

export interface Tick { value: number; label: string }

export interface ChartLayout {
  width: number;
  height: number;
  plot: { left: number; top: number; right: number; bottom: number };
  xTicks: Tick[];
  yTicks: Tick[];
  x(v: number): number;
  y(v: number): number;
  legend: Series[];
}

const CHART_SIZE = { width: 720, height: 380 };

/** Short numbers for tick labels: 1.2k, 3.4M, 0.25. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return '0';
  return String(+v.toPrecision(3));
}

/** About `count` round-valued ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5, integer = false): number[] {
  if (!(hi > lo)) { hi = lo + 1; }
  let step = 10 ** Math.floor(Math.log10((hi - lo) / count));
  const err = (hi - lo) / count / step;
  if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
  if (integer) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** Scales and ticks for a chart: what both renderers draw from. */
export function layoutChart(c: ChartSpec, size = CHART_SIZE): ChartLayout {
  const pts = c.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!c.yLog || y > 0));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let x0 = xs.length ? Math.min(...xs) : 0;
  let x1 = xs.length ? Math.max(...xs) : 1;
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  let y0 = c.yMin ?? (ys.length ? Math.min(...ys) : 0);
  let y1 = c.yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (y1 === y0) { y0 = c.yLog ? y0 / 10 : y0 - 1; y1 = c.yLog ? y1 * 10 : y1 + 1; }
  const plot = { left: 72, top: 40, right: size.width - 170, bottom: size.height - 52 };
  const x = (v: number) => plot.left + ((v - x0) / (x1 - x0)) * (plot.right - plot.left);
  let y: (v: number) => number;
  let yTicks: Tick[];
  if (c.yLog) {
    const l0 = Math.floor(Math.log10(Math.max(y0, 1e-12)));
    const l1 = Math.ceil(Math.log10(Math.max(y1, 1e-12)));
    const span = Math.max(1, l1 - l0);
    y = (v: number) => plot.bottom - ((Math.log10(Math.max(v, 1e-300)) - l0) / span) * (plot.bottom - plot.top);
    yTicks = Array.from({ length: span + 1 }, (_, i) => ({ value: 10 ** (l0 + i), label: formatTick(10 ** (l0 + i)) }));
  } else {
    const ticks = niceTicks(y0, y1, 5);
    const lo = Math.min(y0, ticks[0] ?? y0);
    const hi = Math.max(y1, ticks.at(-1) ?? y1);
    y = (v: number) => plot.bottom - ((v - lo) / (hi - lo)) * (plot.bottom - plot.top);
    yTicks = ticks.map((v) => ({ value: v, label: formatTick(v) }));
  }
  const xTicks = niceTicks(x0, x1, 6, c.xInteger).filter((v) => v >= x0 - 1e-9 && v <= x1 + 1e-9).map((v) => ({ value: v, label: formatTick(v) }));
  return { ...size, plot, xTicks, yTicks, x, y, legend: c.series.filter((s) => s.legend !== false).slice(0, 9) };
}

/** A palette readable on white; site lines cycle through it. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
