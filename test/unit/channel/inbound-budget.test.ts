// Inbound budgets on a fake clock: token buckets, strikes for unsolicited messages, limit validation, late replies.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONNECTION_LIMITS } from '../../../protocols/limits.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { FRAME_OVERHEAD } from '../../../shared/crypto/frame-cipher.ts';
import { resolveConnectionLimits } from '../../../shared/channel/connection-limits.ts';
import { InboundBudget } from '../../../shared/channel/inbound-budget.ts';
import { RequestTracker } from '../../../shared/channel/request-tracker.ts';
import { TokenBucket } from '../../../shared/channel/token-bucket.ts';

const MiB = 1024 * 1024;
const DEFAULTS = resolveConnectionLimits();

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

test('TokenBucket: a full burst at once, then only the refill rate; a clock going backwards refills nothing', () => {
  const b = new TokenBucket(10, 5, 0);
  for (let i = 0; i < 5; i++) assert.ok(b.tryTake(1, 0));
  assert.equal(b.tryTake(1, 0), false);
  assert.equal(b.tryTake(1, 99), false, '0.99 tokens after 99 ms');
  assert.ok(b.tryTake(1, 100));
  assert.equal(b.tryTake(1, 50), false, 'time went backwards');
  assert.equal(b.available(10_000), 5, 'refill stops at the burst');
  assert.equal(b.tryTake(6, 10_000), false, 'more than the burst never passes');
  assert.equal(b.available(10_000), 5, 'a refused take takes nothing');
  const off = new TokenBucket(Infinity, 1, 0);
  for (let i = 0; i < 1000; i++) assert.ok(off.tryTake(1e9, 0));
  const never = new TokenBucket(0, 2, 0);
  assert.ok(never.tryTake(2, 0));
  assert.equal(never.tryTake(1, 1e12), false, 'rate 0 never refills');
  assert.throws(() => new TokenBucket(-1, 1, 0), RangeError);
});

test('the message budget admits its burst, refuses the next frame with E_INBOUND_RATE_EXCEEDED naming the option, then refills', () => {
  const clock = fakeClock();
  const budget = new InboundBudget({ ...DEFAULTS, inboundMessagesPerSecond: 100, inboundBurstMessages: 20 }, clock.now);
  for (let i = 0; i < 20; i++) budget.admitFrame(100);
  assert.throws(() => budget.admitFrame(100), (e: Error & { code?: string; closeCode?: number }) => {
    assert.equal(e.code, 'E_INBOUND_RATE_EXCEEDED');
    assert.equal(e.closeCode, 4034);
    assert.match(e.message, /inboundMessagesPerSecond 100\/s, burst 20/);
    assert.ok(Buffer.byteLength(`${e.code}: ${e.message}`) <= 123, 'fits a websocket close reason');
    return true;
  });
  clock.advance(50); // 5 messages' worth
  for (let i = 0; i < 5; i++) budget.admitFrame(100);
  assert.throws(() => budget.admitFrame(100), { code: 'E_INBOUND_RATE_EXCEEDED' });
  assert.equal(budget.stats.frames, 25);
});

test('the byte budget admits four max-size frames at once by default, then the sustained rate', () => {
  const clock = fakeClock();
  const budget = new InboundBudget(DEFAULTS, clock.now);
  const maxFrame = DEFAULTS.maxFrameBytes + FRAME_OVERHEAD;
  for (let i = 0; i < 4; i++) budget.admitFrame(maxFrame - 100);
  assert.throws(() => budget.admitFrame(maxFrame), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'E_INBOUND_RATE_EXCEEDED');
    assert.match(e.message, /inboundBytesPerSecond 32 MiB\/s, burst 64 MiB/); // 64 MiB + 100 B, rounded
    assert.ok(Buffer.byteLength(`${e.code}: ${e.message}`) <= 123);
    return true;
  });
  clock.advance(500); // 16 MiB refilled at 32 MiB/s
  budget.admitFrame(16 * MiB);
  assert.throws(() => budget.admitFrame(64 * 1024), { code: 'E_INBOUND_RATE_EXCEEDED' });
});

test('unsolicited messages: maxUnsolicitedMessages are tolerated, the next closes (E_UNSOLICITED_MESSAGES); one is forgiven per unsolicitedForgiveMs', () => {
  const clock = fakeClock();
  const budget = new InboundBudget({ ...DEFAULTS, maxUnsolicitedMessages: 3, unsolicitedForgiveMs: 1000 }, clock.now);
  for (let i = 0; i < 3; i++) budget.noteUnsolicited('query_reply to no known request');
  assert.throws(() => budget.noteUnsolicited('query_reply to no known request'), (e: Error & { code?: string; closeCode?: number }) => {
    assert.equal(e.code, 'E_UNSOLICITED_MESSAGES');
    assert.equal(e.closeCode, 4035);
    assert.match(e.message, /maxUnsolicitedMessages 3 \(last: query_reply to no known request\)/);
    assert.ok(Buffer.byteLength(`${e.code}: ${e.message}`) <= 123);
    return true;
  });
  clock.advance(2000);
  budget.noteUnsolicited('pong to no ping');
  budget.noteUnsolicited('pong to no ping');
  assert.throws(() => budget.noteUnsolicited('pong to no ping'), { code: 'E_UNSOLICITED_MESSAGES' });
  // 0 tolerates none
  assert.throws(() => new InboundBudget({ ...DEFAULTS, maxUnsolicitedMessages: 0 }, clock.now).noteUnsolicited('x'), { code: 'E_UNSOLICITED_MESSAGES' });
});

test('a legitimate site\'s traffic, at far more than any run sends, never trips the default budgets', () => {
  // A site sends per round: one query_reply per query it got, one metrics, now and then an error notice;
  // heartbeats every 15 s when idle. Simulated here at 100 rounds/s for 10 minutes, with a max-size reply
  // (16 MiB) every second on top from the second second, after four max-size replies back to back at the start.
  const clock = fakeClock();
  const budget = new InboundBudget(DEFAULTS, clock.now);
  const maxFrame = DEFAULTS.maxFrameBytes + FRAME_OVERHEAD;
  for (let i = 0; i < 4; i++) budget.admitFrame(maxFrame);
  for (let ms = 0; ms < 600_000; ms += 10) {
    clock.advance(10);
    budget.admitFrame(40 * 1024); // query_reply
    budget.admitFrame(300); // metrics
    if (ms % 1000 === 0 && ms > 0) budget.admitFrame(maxFrame);
    if (ms % 15_000 === 0) budget.admitFrame(60); // heartbeat
    if (ms % 30_000 === 0) budget.noteUnsolicited('second query_reply to a request'); // a resend after a reconnect
  }
  assert.equal(budget.stats.unsolicited, 20);
});

test('resolveConnectionLimits: defaults, validation with the option named, and a burst that grows with maxFrameBytes', () => {
  // four max-size frames (each 16 MiB + header and tag) fit the default burst
  assert.deepEqual(resolveConnectionLimits(), { ...DEFAULT_CONNECTION_LIMITS });
  assert.equal(DEFAULT_CONNECTION_LIMITS.inboundBurstBytes, 4 * (16 * MiB + FRAME_OVERHEAD));
  assert.equal(resolveConnectionLimits({ maxFrameBytes: MiB }).inboundBurstBytes, 4 * (MiB + FRAME_OVERHEAD));
  assert.equal(resolveConnectionLimits({ inboundBurstBytes: 64 * MiB }).inboundBurstBytes, 64 * MiB);
  assert.equal(resolveConnectionLimits({ maxInFlight: undefined }).maxInFlight, 64);
  // raising the frame limit alone keeps four frames of burst
  assert.equal(resolveConnectionLimits({ maxFrameBytes: 32 * MiB }).inboundBurstBytes, 4 * (32 * MiB + FRAME_OVERHEAD));
  assert.equal(resolveConnectionLimits({ inboundBytesPerSecond: Infinity }).inboundBytesPerSecond, Infinity);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ inboundBurstBytes: 1024 }, /limits\.inboundBurstBytes: 1024 bytes cannot admit one frame of maxFrameBytes .* raise it to at least 16777241/],
    [{ maxFrameBytes: 32 * MiB, inboundBurstBytes: 16 * MiB }, /inboundBurstBytes/],
    [{ inboundMessagesPerSecond: 0 }, /limits\.inboundMessagesPerSecond: must be a positive number/],
    [{ inboundBurstMessages: 0.5 }, /limits\.inboundBurstMessages: must be at least 1/],
    [{ maxUnsolicitedMessages: -1 }, /limits\.maxUnsolicitedMessages: must be an integer of at least 0, or Infinity/],
    [{ unsolicitedForgiveMs: Number.NaN }, /limits\.unsolicitedForgiveMs/],
    [{ maxInFlight: 1.5 }, /limits\.maxInFlight: must be a positive integer \(got 1\.5\)/],
    [{ idleTimeoutMs: Infinity }, /limits\.idleTimeoutMs: must be a positive, finite number/],
    [{ maxFrameBytes: '16M' }, /limits\.maxFrameBytes/],
    [{ inboundBytesPerSec: 1 }, /limits\.inboundBytesPerSec: is not a connection limit; known: .*inboundBytesPerSecond/],
  ];
  for (const [given, message] of bad) {
    assert.throws(() => resolveConnectionLimits(given as never), { code: 'E_INVALID_PARAMETER', message }, JSON.stringify(given));
  }
});

test('RequestTracker: the first reply after a timeout is late (not a duplicate); the next one is a duplicate', async () => {
  const t = new RequestTracker(4);
  const pending = t.begin('q-1', 1);
  await assert.rejects(pending, { code: 'E_REQUEST_TIMEOUT' });
  const reply = { type: 'error', v: PROTOCOL_VERSION, code: 'E_X', message: 'x', requestId: 'q-1' } as const;
  assert.equal(t.settle(reply), 'late');
  assert.equal(t.settle(reply), 'duplicate');
  assert.equal(t.settle({ ...reply, requestId: 'never-asked' }), 'unmatched');
  assert.deepEqual({ late: t.stats.late, duplicates: t.stats.duplicates, unmatched: t.stats.unmatched }, { late: 1, duplicates: 1, unmatched: 1 });
});

test('the default clock is monotonic: a wall clock stepped back an hour (NTP) does not stop the budgets refilling', async () => {
  const wall = Date.now();
  let step = 0;
  const clock = mock.method(Date, 'now', () => wall + step);
  try {
    const budget = new InboundBudget({ ...DEFAULTS, inboundMessagesPerSecond: 1000, inboundBurstMessages: 2, maxUnsolicitedMessages: 1, unsolicitedForgiveMs: 10 });
    budget.admitFrame(100);
    budget.admitFrame(100);
    budget.noteUnsolicited('pong to no ping');
    step = -3_600_000;
    await new Promise((resolve) => setTimeout(resolve, 30)); // 30 messages' and 3 strikes' worth of refill
    budget.admitFrame(100);
    budget.noteUnsolicited('pong to no ping');
  } finally {
    clock.mock.restore();
  }
});
