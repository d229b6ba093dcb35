// Refused connections are logged without flooding: first at once, repeats summarised per window, memory bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressGroup } from '../../../shared/channel/address-group.ts';
import { RefusalLog, type RefusalLogOptions } from '../../../shared/util/refusal-log.ts';

/** A RefusalLog on a fake clock whose window timer fires only when the test says so. */
function fixture(extra: Partial<RefusalLogOptions> = {}) {
  const lines: string[] = [];
  let now = 1_000_000;
  let armed: { fn: () => void; at: number } | undefined;
  let cancelled = 0;
  const log = new RefusalLog({
    log: (l) => lines.push(l), now: () => now,
    schedule: (fn, ms) => { armed = { fn, at: now + ms }; return { cancel: () => { cancelled++; armed = undefined; } }; },
    ...extra,
  });
  return {
    log, lines,
    advance(ms: number): void { now += ms; if (armed && now >= armed.at) { const { fn } = armed; armed = undefined; fn(); } },
    get armed() { return armed !== undefined; },
    get cancelled() { return cancelled; },
  };
}

test('the first refusal per (address, code) is logged at once; 9,256 repeats become one line per window', () => {
  const f = fixture();
  f.log.note('10.0.0.9', 'E_TOO_MANY_CONNECTIONS');
  assert.deepEqual(f.lines, ['refused a connection from 10.0.0.9: E_TOO_MANY_CONNECTIONS']);
  for (let i = 0; i < 9256; i++) f.log.note('10.0.0.9', 'E_TOO_MANY_CONNECTIONS');
  f.log.note('10.0.0.9', 'E_HANDSHAKE_TIMEOUT'); // another code is another pair: logged at once
  f.log.note('10.0.0.7', 'E_TOO_MANY_CONNECTIONS');
  assert.equal(f.lines.length, 3);
  f.advance(9_999);
  assert.equal(f.lines.length, 3, 'nothing before the window ends');
  f.advance(1);
  assert.deepEqual(f.lines.slice(3), ['refused 9256 more connections from 10.0.0.9: E_TOO_MANY_CONNECTIONS in the last 10 s']);
  // still refused: one summary per window, no new first line
  for (let i = 0; i < 5; i++) f.log.note('10.0.0.9', 'E_TOO_MANY_CONNECTIONS');
  f.advance(10_000);
  assert.deepEqual(f.lines.slice(4), ['refused 5 more connections from 10.0.0.9: E_TOO_MANY_CONNECTIONS in the last 10 s']);
  // a quiet window forgets the pair (no line) and stops the timer; the next refusal is logged at once
  f.advance(10_000);
  assert.equal(f.lines.length, 5);
  assert.equal(f.armed, false, 'no timer while nothing is pending');
  f.log.note('10.0.0.9', 'E_TOO_MANY_CONNECTIONS');
  assert.equal(f.lines.at(-1), 'refused a connection from 10.0.0.9: E_TOO_MANY_CONNECTIONS');
});

test('a window that ended while no timer fired is summarised on the next refusal', () => {
  const f = fixture({ schedule: () => ({ cancel() {} }) });
  f.log.note('10.0.0.9', 'E_RATE_LIMITED');
  f.log.note('10.0.0.9', 'E_RATE_LIMITED');
  f.advance(12_000);
  f.log.note('10.0.0.9', 'E_RATE_LIMITED');
  assert.deepEqual(f.lines, ['refused a connection from 10.0.0.9: E_RATE_LIMITED', 'refused 1 more connection from 10.0.0.9: E_RATE_LIMITED in the last 10 s']);
});

test('IPv6 addresses in one /64 count as one pair (with addressGroup)', () => {
  const f = fixture({ groupOf: addressGroup });
  for (let i = 1; i <= 50; i++) f.log.note(`2001:db8:0:1::${i.toString(16)}`, 'E_TOO_MANY_CONNECTIONS');
  f.advance(10_000);
  assert.deepEqual(f.lines, [
    'refused a connection from 2001:db8:0:1::1: E_TOO_MANY_CONNECTIONS',
    'refused 49 more connections from 2001:db8:0:1::/64: E_TOO_MANY_CONNECTIONS in the last 10 s',
  ]);
});

test('many new addresses in one window: five first lines, the rest counted in one line', () => {
  const f = fixture({ maxKeys: 10, maxFirstLinesPerWindow: 5 });
  for (let i = 0; i < 1000; i++) f.log.note(`10.1.${i >> 8}.${i & 255}`, 'E_TOO_MANY_CONNECTIONS');
  f.log.note('10.1.9.9', 'E_HANDSHAKE_TIMEOUT');
  assert.equal(f.lines.length, 5, 'five first lines, the rest counted');
  f.advance(10_000);
  assert.deepEqual(f.lines.slice(5), ['refused 996 more connections from other addresses (too many to list one by one) in the last 10 s: E_TOO_MANY_CONNECTIONS ×995, E_HANDSHAKE_TIMEOUT ×1']);
  // the cap is per window: a new address in the next one is logged at once
  f.log.note('10.3.0.1', 'E_TOO_MANY_CONNECTIONS');
  assert.equal(f.lines.at(-1), 'refused a connection from 10.3.0.1: E_TOO_MANY_CONNECTIONS');
});

test('past maxKeys pairs the oldest is forgotten: its repeats are counted under other addresses', () => {
  const f = fixture({ maxKeys: 3 });
  f.log.note('10.0.0.1', 'E_RATE_LIMITED');
  f.log.note('10.0.0.1', 'E_RATE_LIMITED');
  f.log.note('10.0.0.2', 'E_RATE_LIMITED');
  f.log.note('10.0.0.3', 'E_RATE_LIMITED');
  f.log.note('10.0.0.4', 'E_RATE_LIMITED'); // forgets 10.0.0.1 (and its one repeat)
  f.log.note('10.0.0.1', 'E_RATE_LIMITED'); // new again: logged at once, forgets 10.0.0.2
  assert.deepEqual(f.lines, ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.1'].map((a) => `refused a connection from ${a}: E_RATE_LIMITED`));
  f.log.note('10.0.0.3', 'E_RATE_LIMITED'); // still remembered: a repeat
  f.advance(10_000);
  assert.deepEqual(f.lines.slice(5), [
    'refused 1 more connection from 10.0.0.3: E_RATE_LIMITED in the last 10 s',
    'refused 1 more connection from other addresses (too many to list one by one) in the last 10 s: E_RATE_LIMITED ×1',
  ]);
});

test('close summarises what is pending and cancels the timer', () => {
  const f = fixture();
  f.log.note('10.0.0.9', 'E_TOO_MANY_CONNECTIONS');
  f.log.note('10.0.0.9', 'E_TOO_MANY_CONNECTIONS');
  assert.equal(f.armed, true);
  f.log.close();
  assert.equal(f.armed, false);
  assert.equal(f.lines.at(-1), 'refused 1 more connection from 10.0.0.9: E_TOO_MANY_CONNECTIONS in the last 10 s');
  f.advance(60_000);
  assert.equal(f.lines.length, 2);
});

test('the default timer is unref\'d: a pending summary does not keep the process alive', async () => {
  const { spawnSync } = await import('node:child_process');
  const script = `import { RefusalLog } from ${JSON.stringify(new URL('../../../shared/util/refusal-log.ts', import.meta.url).href)};
    const r = new RefusalLog({ log: () => {} }); r.note('10.0.0.1', 'E_X'); r.note('10.0.0.1', 'E_X');`;
  const t0 = Date.now();
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 8000 });
  assert.equal(run.status, 0, run.stderr);
  assert.ok(Date.now() - t0 < 8000);
});
