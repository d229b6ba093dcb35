// The codec: typed arrays travel as binary, nothing prototype-polluting is ever built, and no input crashes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr, encode as rawPack } from 'msgpackr';
import { ChannelError } from '../../../protocols/error-catalogue.ts';
import { decodeMessage, encodeMessage } from '../../../protocols/codec.ts';
import { validateSessionMessage } from '../../../protocols/validators.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { SeededRng } from '../../../shared/util/prng.ts';

const reply = {
  type: 'query_reply', v: PROTOCOL_VERSION, requestId: 'r-1', round: 3, replyKind: 'soft_labels', rows: 2, cols: 3,
  soft: new Float32Array([0.1, 0.2, 0.7, 0.3, 0.3, 0.4]), stats: { seconds: 1.5 },
};

test('typed arrays round-trip as binary (ext 0x74), not as lists of numbers', () => {
  const bytes = encodeMessage(reply);
  const floats = new Float32Array([0.1, 0.2, 0.7, 0.3, 0.3, 0.4]);
  assert.ok(Buffer.from(bytes).includes(Buffer.from(floats.buffer)), 'the float bytes appear verbatim');
  assert.ok(bytes.length < 24 + 120, `encoded size ${bytes.length}`);
  const back = decodeMessage(bytes) as unknown as typeof reply;
  assert.ok(back.soft instanceof Float32Array);
  assert.deepEqual(back.soft, floats);
  const votes = decodeMessage(encodeMessage({ a: new Uint16Array([1, 65535]), b: new Int32Array([-1, 5]), c: new Uint32Array([4e9]) })) as Record<string, unknown>;
  assert.ok(votes.a instanceof Uint16Array && votes.b instanceof Int32Array && votes.c instanceof Uint32Array);
});

test('__proto__, constructor and prototype keys are refused at any depth, and prototypes stay clean', () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const nested = rawPack(new Map<string, unknown>([['type', 'metrics'], ['deep', [new Map([[key, new Map([['polluted', true]])]])]]]));
    assert.throws(() => decodeMessage(nested), (e: ChannelError) => e.code === 'E_MSG_FORBIDDEN_KEY' && e.closeCode === 4004);
  }
  // the same through plain-object packing, which msgpackr writes as a map key "__proto__"
  const obj = JSON.parse('{"type":"metrics","v":[1,0],"round":1,"values":{"__proto__":{"polluted":1}}}');
  assert.throws(() => decodeMessage(rawPack(obj)), { code: 'E_MSG_FORBIDDEN_KEY' });
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
});

test('extension types the protocol does not carry are refused (Date, Set, RegExp, Float64Array, bigint)', () => {
  for (const v of [new Date(0), new Set([1]), /x/, new Float64Array(2), 2n ** 70n]) {
    const packr = new Packr({ moreTypes: true, useRecords: false } as ConstructorParameters<typeof Packr>[0]);
    assert.throws(() => decodeMessage(packr.pack({ x: v })), { code: 'E_MSG_DECODE' }, String(v));
  }
});

test('fuzz: 12,000 random and mutated frames never crash the decoder or validator', async () => {
  const rng = new SeededRng(20240601);
  const seeds = [encodeMessage(reply), encodeMessage({ type: 'heartbeat', v: PROTOCOL_VERSION, kind: 'ping', seq: 1 }),
    encodeMessage({ type: 'consensus', v: PROTOCOL_VERSION, round: 1, indices: new Uint32Array([1, 2]), rows: 2, cols: 2, labels: new Int32Array([0, -1]) })];
  const rejections: unknown[] = [];
  const onRejection = (e: unknown): void => { rejections.push(e); };
  process.on('unhandledRejection', onRejection);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 12_000; i++) {
    let bytes: Uint8Array;
    if (i % 3 === 0) {
      bytes = new Uint8Array(rng.int(64) + 1);
      for (let j = 0; j < bytes.length; j++) bytes[j] = rng.int(256);
    } else {
      bytes = Uint8Array.from(seeds[i % seeds.length]!);
      const flips = 1 + rng.int(4);
      for (let f = 0; f < flips; f++) bytes[rng.int(bytes.length)] = rng.int(256);
      if (rng.int(4) === 0) bytes = bytes.subarray(0, rng.int(bytes.length));
    }
    try {
      validateSessionMessage(decodeMessage(bytes));
      accepted++;
    } catch (e) {
      assert.ok(e instanceof ChannelError, `non-catalogue error: ${(e as Error)?.stack}`);
      assert.ok(e.closeCode !== null && e.closeCode >= 4000);
      refused++;
    }
  }
  await new Promise((r) => setImmediate(r));
  process.off('unhandledRejection', onRejection);
  assert.equal(rejections.length, 0);
  assert.equal(accepted + refused, 12_000);
  assert.ok(refused > 10_000, `refused ${refused}`);
});
