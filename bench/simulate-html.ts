// Benchmark/proof: report.html opened in headless Chromium renders its charts (a screenshot, and chart-coloured pixels counted in it).
// Usage: node --import tsx bench/simulate-html.ts [--report DIR]   (default: runs tiny.yaml into runs/bench-html first)
// Needs Debian's chromium (apt-get install -y chromium); without it, prints {"skipped": ...}. Tests never need it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';
import { loadScenario } from '../simulations/scenario.ts';
import { runSimulation } from '../simulations/run-simulation.ts';
import { benchArgs } from './bench-args.ts';

const { values } = benchArgs({
  name: 'simulate-html',
  summary: `Proof that report.html renders its charts: opens it in headless Chromium, screenshots it and counts chart-coloured pixels.
Prints one JSON object ({"skipped": ...} without Debian's chromium); exit 1 when the charts are missing.`,
  options: {
    report: { kind: 'string', arg: 'DIR', defaultHelp: 'runs tiny.yaml into runs/bench-html first', help: 'a run folder holding report.html' },
  },
});
let dir = values.report ?? '';
const browser = ['chromium', 'chromium-browser', 'google-chrome'].find((b) => spawnSync('which', [b]).status === 0);
if (!browser) {
  console.log(JSON.stringify({ bench: 'simulate-html', skipped: 'no chromium on PATH; apt-get install -y chromium' }));
  process.exit(0);
}
if (!dir) {
  dir = 'runs/bench-html';
  await runSimulation(loadScenario('simulations/scenarios/tiny.yaml'), { mode: 'in-process', out: dir, log: (l) => process.stderr.write(l + '\n') });
}
const html = resolve(dir, 'report.html');
const shot = resolve(dir, 'report-screenshot.png');
const t0 = Date.now();
const run = spawnSync(browser, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--window-size=1200,1700', `--screenshot=${shot}`, `file://${html}`], { encoding: 'utf8', timeout: 120_000 });
if (!existsSync(shot)) {
  console.log(JSON.stringify({ bench: 'simulate-html', ok: false, error: `chromium wrote no screenshot: ${(run.stderr ?? '').slice(-500)}` }));
  process.exit(1);
}

/** Decodes an 8-bit RGB/RGBA PNG (what Chromium writes) into RGBA pixels. */
function decodePng(buf: Buffer): { width: number; height: number; rgba: Uint8Array } {
  let at = 8;
  let width = 0, height = 0, type = 0;
  const idat: Buffer[] = [];
  while (at < buf.length) {
    const len = buf.readUInt32BE(at);
    const t = buf.toString('ascii', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (t === 'IHDR') { width = data.readUInt32BE(0); height = data.readUInt32BE(4); type = data[9]!; }
    if (t === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const bpp = type === 6 ? 4 : 3;
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const cur = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!;
      const a = x >= bpp ? cur[y * stride + x - bpp]! : 0;
      const b = y > 0 ? cur[(y - 1) * stride + x]! : 0;
      const c = x >= bpp && y > 0 ? cur[(y - 1) * stride + x - bpp]! : 0;
      const p = a + b - c;
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1
        : (Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c);
      cur[y * stride + x] = (v + pred) & 255;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba.set(cur.subarray(i * bpp, i * bpp + 3), i * 4);
    rgba[i * 4 + 3] = bpp === 4 ? cur[i * bpp + 3]! : 255;
  }
  return { width, height, rgba };
}

const img = decodePng(readFileSync(shot));
const near = (i: number, [r, g, b]: number[]) => Math.abs(img.rgba[i]! - r!) + Math.abs(img.rgba[i + 1]! - g!) + Math.abs(img.rgba[i + 2]! - b!) < 40;
let fedavgRed = 0, epsilonPurple = 0, bytesBlue = 0;
for (let i = 0; i < img.rgba.length; i += 4) {
  if (near(i, [0xd6, 0x27, 0x28])) fedavgRed++;
  if (near(i, [0x94, 0x67, 0xbd])) epsilonPurple++;
  if (near(i, [0x1f, 0x77, 0xb4])) bytesBlue++;
}
const ok = fedavgRed > 200 && epsilonPurple > 200 && bytesBlue > 200;
console.log(JSON.stringify({
  bench: 'simulate-html', browser, report: html, screenshot: join(dir, 'report-screenshot.png'), seconds: (Date.now() - t0) / 1000,
  screenshot_size: [img.width, img.height], chart_pixels: { fedavg_red: fedavgRed, epsilon_purple: epsilonPurple, bytes_blue: bytesBlue }, ok,
}));
process.exitCode = ok ? 0 : 1;
