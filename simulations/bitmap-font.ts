// A 5×7 bitmap font (upper case, digits, the symbols chart labels use) so PNG charts can carry their text.

/** Glyph bits: 7 rows of 5 bits, top row most significant. Lower case draws as upper case. */
const GLYPHS: Record<string, number> = {
  'A': 0x3a31fc631,
  'B': 0x7a31f463e,
  'C': 0x3a308422e,
  'D': 0x7a318c63e,
  'E': 0x7e10f421f,
  'F': 0x7e10f4210,
  'G': 0x3a30bc62f,
  'H': 0x4631fc631,
  'I': 0x38842108e,
  'J': 0x1c4210a4c,
  'K': 0x4654c5251,
  'L': 0x42108421f,
  'M': 0x4775ac631,
  'N': 0x4639ace31,
  'O': 0x3a318c62e,
  'P': 0x7a31f4210,
  'Q': 0x3a318d64d,
  'R': 0x7a31f5251,
  'S': 0x3e107043e,
  'T': 0x7c8421084,
  'U': 0x46318c62e,
  'V': 0x46318c544,
  'W': 0x4631ad6aa,
  'X': 0x462a22a31,
  'Y': 0x462a21084,
  'Z': 0x7c222221f,
  '0': 0x3a33ae62e,
  '1': 0x11842108e,
  '2': 0x3a211111f,
  '3': 0x7c441062e,
  '4': 0x08ca97c42,
  '5': 0x7e1e0862e,
  '6': 0x1910f462e,
  '7': 0x7c2222108,
  '8': 0x3a317462e,
  '9': 0x3a317844c,
  '.': 0x00000018c,
  ',': 0x000003088,
  '-': 0x0000f8000,
  '%': 0x632222263,
  '(': 0x088842082,
  ')': 0x208210888,
  '/': 0x002222200,
  ':': 0x018c03180,
  '+': 0x0084f9080,
  '=': 0x001f07c00,
  '_': 0x00000001f,
  'ε': 0x000f83a0f,
  'δ': 0x39047462e,
  '×': 0x022a22a20,
  '…': 0x000000015,
  "'": 0x108800000,
  '?': 0x3a2111004,
};

const GLYPH_WIDTH = 5;
const GLYPH_HEIGHT = 7;

/** Calls `dot(x, y)` for each lit pixel of `text` at scale 1 (6 px advance per character); returns the width. */
export function drawText(text: string, dot: (x: number, y: number) => void): number {
  let x = 0;
  for (const ch of text) {
    const bits = GLYPHS[ch] ?? GLYPHS[ch.toUpperCase()] ?? (ch === ' ' ? 0 : GLYPHS['?']!);
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (Math.floor(bits / 32 ** (GLYPH_HEIGHT - 1 - row)) % 32 & (1 << (GLYPH_WIDTH - 1 - col))) dot(x + col, row);
      }
    }
    x += GLYPH_WIDTH + 1;
  }
  return x;
}

/** Width in pixels of `text` at scale 1. */
export function textWidth(text: string): number {
  return [...text].length * (GLYPH_WIDTH + 1);
}
