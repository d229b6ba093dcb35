// AEAD frames: round trip, and each kind of tampering refused with its own code; no input crashes the opener.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ChannelError } from '../../../protocols/error-catalogue.ts';
import { FRAME_OVERHEAD, FrameOpener, FrameSealer } from '../../../shared/crypto/frame-cipher.ts';
import { SeededRng } from '../../../shared/util/prng.ts';

const key = randomBytes(32);
const pair = () => ({ sealer: new FrameSealer(key), opener: new FrameOpener(key) });
const text = (s: string) => new TextEncoder().encode(s);

test('frames round-trip in order and carry 25 bytes of overhead', () => {
  const { sealer, opener } = pair();
  for (const m of ['a', '', 'hello world']) {
    const f = sealer.seal(text(m));
    assert.equal(f.length, m.length + FRAME_OVERHEAD);
    assert.equal(new TextDecoder().decode(opener.open(f)), m);
  }
});

test('altered, replayed, reordered, truncated and foreign-key frames are refused with their codes', () => {
  const code = (f: () => unknown) => { try { f(); return 'none'; } catch (e) { return (e as ChannelError).code; } };
  let { sealer, opener } = pair();
  const f0 = sealer.seal(text('zero'));
  const altered = Buffer.from(f0);
  altered[FRAME_OVERHEAD - 10]! ^= 1;
  assert.equal(code(() => opener.open(altered)), 'E_FRAME_AUTH');
  ({ sealer, opener } = pair());
  const a = sealer.seal(text('a'));
  const b = sealer.seal(text('b'));
  opener.open(a);
  assert.equal(code(() => opener.open(a)), 'E_FRAME_REPLAYED');
  ({ sealer, opener } = pair());
  const c0 = sealer.seal(text('0'));
  const c1 = sealer.seal(text('1'));
  assert.equal(code(() => opener.open(c1)), 'E_FRAME_OUT_OF_ORDER');
  void c0; void b;
  assert.equal(code(() => new FrameOpener(key).open(c0.subarray(0, 10))), 'E_FRAME_MALFORMED');
  assert.equal(code(() => new FrameOpener(randomBytes(32)).open(c0)), 'E_FRAME_AUTH');
  // a header counter rewritten to the expected value breaks the nonce and so the tag
  const forged = Buffer.from(c1);
  forged.writeUInt32BE(0, 5);
  assert.equal(code(() => new FrameOpener(key).open(forged)), 'E_FRAME_AUTH');
});

test('fuzz: 10,000 random and mutated frames into the opener only ever raise catalogue errors', () => {
  const rng = new SeededRng(7);
  const sealer = new FrameSealer(key);
  const good = sealer.seal(text('a perfectly good frame'));
  let refused = 0;
  for (let i = 0; i < 10_000; i++) {
    const f = i % 2 ? Buffer.from(good) : Buffer.alloc(rng.int(80));
    if (i % 2) f[rng.int(f.length)] ^= 1 + rng.int(255); // always a real change
    else for (let j = 0; j < f.length; j++) f[j] = rng.int(256);
    try {
      new FrameOpener(key).open(f);
    } catch (e) {
      assert.ok(e instanceof ChannelError && e.closeCode! >= 4000, String(e));
      refused++;
    }
  }
  assert.equal(refused, 10_000);
});
