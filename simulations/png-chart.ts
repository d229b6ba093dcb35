// Rasterises a ChartSpec to PNG with the same layout as the SVG: lines, markers, grid, legend and 5×7 text.
import { drawText, textWidth } from './bitmap-font.ts';
import { type ChartSpec, layoutChart } from './chart-model.ts';
import { encodePng } from './png-encode.ts';

type Rgb = [number, number, number];

function rgb(hex: string): Rgb {
  const h = hex.replace('#', '');
  const full = h.length === 3 ? h.split('').map((c) => c + c).join('') : h;
  return [parseInt(full.slice(0, 2), 16), parseInt(full.slice(2, 4), 16), parseInt(full.slice(4, 6), 16)];
}

/** An RGBA pixel buffer with the few drawing operations a line chart needs. */
class Canvas {
  readonly px: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.px = new Uint8Array(width * height * 4).fill(255);
  }

  dot(x: number, y: number, c: Rgb, alpha = 1): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    const i = (yi * this.width + xi) * 4;
    for (let k = 0; k < 3; k++) this.px[i + k] = Math.round(this.px[i + k]! * (1 - alpha) + c[k]! * alpha);
  }

  disc(x: number, y: number, r: number, c: Rgb): void {
    const rr = Math.max(0.5, r);
    for (let dy = -Math.ceil(rr); dy <= Math.ceil(rr); dy++) {
      for (let dx = -Math.ceil(rr); dx <= Math.ceil(rr); dx++) if (dx * dx + dy * dy <= rr * rr + 0.25) this.dot(x + dx, y + dy, c);
    }
  }

  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, width = 1, dash = false): void {
    const len = Math.hypot(x1 - x0, y1 - y0);
    const steps = Math.max(1, Math.ceil(len * 2));
    for (let i = 0; i <= steps; i++) {
      const t = i / steps;
      if (dash && Math.floor((t * len) / 5) % 2 === 1) continue;
      const x = x0 + (x1 - x0) * t;
      const y = y0 + (y1 - y0) * t;
      if (width <= 1.2) this.dot(x, y, c); else this.disc(x, y, width / 2, c);
    }
  }

  rect(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    this.line(x0, y0, x1, y0, c); this.line(x1, y0, x1, y1, c); this.line(x1, y1, x0, y1, c); this.line(x0, y1, x0, y0, c);
  }

  text(s: string, x: number, y: number, c: Rgb, opts: { scale?: number; align?: 'start' | 'middle' | 'end'; vertical?: boolean } = {}): void {
    const k = opts.scale ?? 1;
    const w = textWidth(s) * k;
    const shift = opts.align === 'middle' ? w / 2 : opts.align === 'end' ? w : 0;
    drawText(s, (gx, gy) => {
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
        if (opts.vertical) this.dot(x + gy * k + b, y + shift - gx * k - a, c);
        else this.dot(x - shift + gx * k + a, y + gy * k + b, c);
      }
    });
  }
}

/** The chart as a PNG file (same size and layout as chartSvg). */
export function chartPng(c: ChartSpec): Buffer {
  const L = layoutChart(c);
  const { plot } = L;
  const cv = new Canvas(L.width, L.height);
  const grey: Rgb = [68, 68, 68];
  cv.text(c.title, plot.left, 12, [0, 0, 0], { scale: 2 });
  for (const t of L.yTicks) {
    const y = L.y(t.value);
    cv.line(plot.left, y, plot.right, y, [229, 229, 229]);
    cv.text(t.label, plot.left - 6, y - 3, grey, { align: 'end' });
  }
  for (const t of L.xTicks) {
    const x = L.x(t.value);
    cv.line(x, plot.top, x, plot.bottom, [240, 240, 240]);
    cv.text(t.label, x, plot.bottom + 8, grey, { align: 'middle' });
  }
  cv.rect(plot.left, plot.top, plot.right, plot.bottom, [136, 136, 136]);
  cv.text(c.xLabel, (plot.left + plot.right) / 2, L.height - 20, [0, 0, 0], { align: 'middle' });
  cv.text(c.yLabel, 10, (plot.top + plot.bottom) / 2, [0, 0, 0], { align: 'middle', vertical: true });
  for (const s of c.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!c.yLog || y > 0)).map(([x, y]) => [L.x(x), L.y(y)] as const);
    const col = rgb(s.color);
    for (let i = 1; i < pts.length; i++) cv.line(pts[i - 1]![0], pts[i - 1]![1], pts[i]![0], pts[i]![1], col, s.width ?? 2, s.dash);
    if (s.markers || pts.length === 1) for (const [x, y] of pts) cv.disc(x, y, 3, col);
  }
  L.legend.forEach((s, i) => {
    const y = plot.top + 8 + i * 18;
    cv.line(plot.right + 12, y, plot.right + 36, y, rgb(s.color), Math.max(2, s.width ?? 2), s.dash);
    cv.text(s.name.length > 18 ? s.name.slice(0, 17) + '…' : s.name, plot.right + 42, y - 3, [0, 0, 0]);
  });
  return encodePng(L.width, L.height, cv.px);
}
