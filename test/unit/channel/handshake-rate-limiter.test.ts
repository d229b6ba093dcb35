// The per-address handshake limit: a burst, a steady refill, addresses apart, and a clock no NTP step can stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { HandshakeRateLimiter } from '../../../shared/channel/handshake-rate-limiter.ts';

test('an address gets its burst, then one handshake per 1/rate seconds; other addresses are not affected', () => {
  const l = new HandshakeRateLimiter(2, 3);
  const t0 = 1_000;
  assert.deepEqual([1, 2, 3, 4].map(() => l.tryTake('10.0.0.1', t0)), [true, true, true, false]);
  assert.equal(l.tryTake('10.0.0.2', t0), true);
  assert.equal(l.tryTake('10.0.0.1', t0 + 400), false);
  assert.equal(l.tryTake('10.0.0.1', t0 + 500), true);
  assert.equal(new HandshakeRateLimiter(Infinity).tryTake('x', 0), true);
});

test('the wall clock stepped back an hour does not stop the refill: the default clock is monotonic', async (t) => {
  const l = new HandshakeRateLimiter(20, 2);
  assert.deepEqual([1, 2, 3].map(() => l.tryTake('10.0.0.1')), [true, true, false]);
  const wall = Date.now();
  t.mock.method(Date, 'now', () => wall - 3_600_000);
  await sleep(150); // 3 tokens' worth at 20/s
  assert.equal(l.tryTake('10.0.0.1'), true, 'refilled although Date.now() went back an hour');
});
