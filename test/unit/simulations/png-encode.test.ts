// PNG output: a valid signature and chunks, the standard CRC, and pixels that inflate back unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { crc32, encodePng } from '../../../simulations/png-encode.ts';
import { drawText, textWidth } from '../../../simulations/bitmap-font.ts';

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('encodePng writes IHDR/IDAT/IEND and the pixels round-trip', () => {
  const w = 3, h = 2;
  const px = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 37) % 256);
  const png = encodePng(w, h, px);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.toString('ascii', 12, 16), 'IHDR');
  assert.equal(png.readUInt32BE(16), w);
  assert.equal(png.readUInt32BE(20), h);
  // every chunk's CRC covers type + data
  let at = 8;
  const types: string[] = [];
  let idat = Buffer.alloc(0);
  while (at < png.length) {
    const len = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    types.push(type);
    assert.equal(png.readUInt32BE(at + 8 + len), crc32(png.subarray(at + 4, at + 8 + len)), type);
    if (type === 'IDAT') idat = Buffer.concat([idat, png.subarray(at + 8, at + 8 + len)]);
    at += 12 + len;
  }
  assert.deepEqual(types, ['IHDR', 'IDAT', 'IEND']);
  const raw = inflateSync(idat);
  for (let y = 0; y < h; y++) {
    assert.equal(raw[y * (w * 4 + 1)], 0);
    assert.deepEqual([...raw.subarray(y * (w * 4 + 1) + 1, (y + 1) * (w * 4 + 1))], [...px.subarray(y * w * 4, (y + 1) * w * 4)]);
  }
  assert.throws(() => encodePng(2, 2, new Uint8Array(3)), /expected 16 bytes/);
});

test('the bitmap font draws known glyphs and falls back for unknown ones', () => {
  const dots: [number, number][] = [];
  const width = drawText('1', (x, y) => dots.push([x, y]));
  assert.equal(width, 6);
  assert.equal(textWidth('ab'), 12);
  // "1": a vertical stem in column 2 on rows 0..6, plus the base 01110
  for (let y = 0; y < 7; y++) assert.ok(dots.some(([x, yy]) => x === 2 && yy === y));
  assert.equal(dots.length, 10);
  let a = 0, A = 0;
  drawText('a', () => a++);
  drawText('A', () => A++);
  assert.equal(a, A);
});
