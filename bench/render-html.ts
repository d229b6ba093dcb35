// Renders an HTML report in headless Chromium (Debian's `chromium`) and checks the screenshot is not blank.
// Usage: node --import tsx bench/render-html.ts REPORT.html OUT.png   -> JSON {rendered, png_bytes, colored_pixels_fraction}
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';
import { benchArgs } from './bench-args.ts';

const { positionals: [html, png] } = benchArgs({
  name: 'render-html',
  summary: `Renders an HTML report in headless Chromium (Debian's chromium) and checks the screenshot is not blank.
Prints one JSON object {rendered, png_bytes, colored_pixels_fraction}; exit 1 when nothing coloured was drawn.`,
  positionals: [{ name: 'REPORT.html', help: 'the report to render' }, { name: 'OUT.png', help: 'where the screenshot is written' }],
});
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!chromium) {
  console.log(JSON.stringify({ rendered: false, reason: 'chromium not installed (apt-get install chromium)' }));
  process.exit(1);
}
const profile = mkdtempSync(join(tmpdir(), 'fedistill-chromium-'));
const r = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--window-size=1100,1400', `--screenshot=${resolve(png)}`,
  `file://${resolve(html)}`], { timeout: 60_000, encoding: 'utf8' });
rmSync(profile, { recursive: true, force: true });

/** Fraction of pixels that are neither white nor near-grey: charts drawn in colour are there. */
function coloredFraction(file: string): number {
  const buf = readFileSync(file);
  const width = buf.readUInt32BE(16), height = buf.readUInt32BE(20), colorType = buf[25]!;
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  if (!channels || buf[24] !== 8) return NaN;
  const idat: Buffer[] = [];
  for (let off = 8; off < buf.length;) {
    const len = buf.readUInt32BE(off), type = buf.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') idat.push(buf.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const prev = new Uint8Array(stride), cur = new Uint8Array(stride);
  let colored = 0;
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels]! : 0, b = prev[i]!, c = i >= channels ? prev[i - channels]! : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : f === 4 ? (pa <= pb && pa <= pc ? a : pb <= pc ? b : c) : 0;
      cur[i] = (line[i]! + pred) & 255;
    }
    for (let x = 0; x < width; x++) {
      const r0 = cur[x * channels]!, g0 = cur[x * channels + 1]!, b0 = cur[x * channels + 2]!;
      if (Math.max(r0, g0, b0) - Math.min(r0, g0, b0) > 40) colored++;
    }
    prev.set(cur);
  }
  return colored / (width * height);
}

const ok = r.status === 0 && existsSync(png);
const fraction = ok ? coloredFraction(png) : 0;
console.log(JSON.stringify({ rendered: ok && fraction > 0.001, html, png, png_bytes: ok ? readFileSync(png).length : 0, colored_pixels_fraction: fraction, chromium }));
process.exit(ok && fraction > 0.001 ? 0 : 1);
