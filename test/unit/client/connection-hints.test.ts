// The site's one-time hints an operator can act on: connection failures (a clock far off the aggregator's, an address that does not answer as one), and a student worse than the local-only model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionHints, studentWorseWarning } from '../../../client/run-site.ts';
import type { SiteConfig } from '../../../client/site-config.ts';

const config = { server: { url: 'ws://127.0.0.1:7711' }, identity: 'site-3.key', settings: { name: 'site-3' } } as unknown as SiteConfig;
const identity = { publicKey: new Uint8Array(32) };
// what the reconnect event carries: the aggregator's close reason, cut to 123 bytes before its advice
const refused = (ahead: number) => `E_HANDSHAKE_REPLAY: peer closed the connection during the handshake with code 4014 (E_HANDSHAKE_REPLAY: site clock is ${Math.abs(ahead)} s ${ahead > 0 ? 'ahead of' : 'behind'} ours (allowed ±300 s): set clocks right (NTP), or a replayed handshake); a close code is not authenticated; retrying`;
// as an aggregator before this release put it: the sign is ours minus theirs, and the advice was cut off
const refusedBefore = (skew: number) => `E_HANDSHAKE_REPLAY: peer closed the connection during the handshake with code 4014 (E_HANDSHAKE_REPLAY: site handshake timestamp is ${skew} s from our clock (allowed ±300 s): a replayed handshake or a wrong c); a close code is not authenticated; retrying`;

test('a site whose clock is far off is told so once, with the difference and what to do', () => {
  const lines: string[] = [];
  const hint = connectionHints(config, identity, (l) => lines.push(l));
  hint(refused(3600));
  hint(refused(3601));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, /this machine's clock is 3600 s ahead of the aggregator's, more than its max_clock_skew_ms allows .* \(NTP\)/);
  const behind: string[] = [];
  connectionHints(config, identity, (l) => behind.push(l))(refused(-900));
  assert.match(behind[0]!, /clock is 900 s behind the aggregator's/);
  for (const [skew, way] of [[-3600, 'ahead of'], [900, 'behind']] as const) {
    const old: string[] = [];
    connectionHints(config, identity, (l) => old.push(l))(refusedBefore(skew));
    assert.match(old[0]!, new RegExp(`clock is ${Math.abs(skew)} s ${way} the aggregator's`));
  }
});

test('a replayed-handshake refusal without a timestamp still gets the hint, without a made-up number', () => {
  const lines: string[] = [];
  connectionHints(config, identity, (l) => lines.push(l))('E_HANDSHAKE_REPLAY: peer closed the connection during the handshake with code 4014 (E_HANDSHAKE_REPLAY: this client hello was seen before)');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^the aggregator refused this site's handshake \(a clock difference beyond its max_clock_skew_ms, default 300 s, or a handshake it saw before\): check this machine's clock/);
});

test("a refusal by this site of the aggregator's clock says so: it is not the aggregator refusing this site", () => {
  const lines: string[] = [];
  // what the reconnect event carries when this site's own check of the hs.server_hello fails
  connectionHints(config, identity, (l) => lines.push(l))('E_HANDSHAKE_REPLAY: aggregator clock is 400 s behind ours (allowed ±300 s): set clocks right (NTP), or a replayed handshake');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^this site refused the aggregator's handshake: the aggregator's clock is 400 s behind this machine's, more than this site's max_clock_skew_ms allows/);
});

test('an address that cannot be reached, cannot be resolved, or answers as some other service gets its own hint, once each', () => {
  const lines: string[] = [];
  const hint = connectionHints(config, identity, (l) => lines.push(l));
  hint('E_NOT_CONNECTED: cannot reach ws://127.0.0.1:7711: connect ECONNREFUSED 127.0.0.1:7711');
  hint('E_NOT_CONNECTED: cannot reach ws://127.0.0.1:7711: connect ECONNREFUSED 127.0.0.1:7711');
  hint('E_NOT_CONNECTED: cannot reach ws://127.0.0.1:7711: Unexpected server response: 200');
  hint('E_NOT_CONNECTED: cannot reach ws://127.0.0.1:7711: Unexpected server response: 404');
  hint('E_NOT_CONNECTED: cannot reach ws://aggregator.lan:7711: getaddrinfo ENOTFOUND aggregator.lan');
  assert.equal(lines.length, 3, lines.join('\n'));
  assert.match(lines[0]!, /^nothing answers at ws:\/\/127\.0\.0\.1:7711 yet: the aggregator is not started/);
  assert.match(lines[1]!, /^something at ws:\/\/127\.0\.0\.1:7711 answers, but not as a fedistill aggregator \(HTTP 200 instead of a websocket\): server\.url points at another service/);
  assert.match(lines[2]!, /^the host of ws:\/\/127\.0\.0\.1:7711 cannot be resolved \(ENOTFOUND\): check server\.url/);
});

test('a student that ends less accurate than the local-only model is flagged; an equal or better one, or no eval set, is not', () => {
  assert.match(studentWorseWarning({ baselineAccuracy: 0.909, finalAccuracy: 0.888, roundsDigested: 3 })!, /^warning: the distilled student is less accurate than the local-only model on the eval set \(0\.9090 → 0\.8880\)/);
  assert.equal(studentWorseWarning({ baselineAccuracy: 0.9, finalAccuracy: 0.9, roundsDigested: 3 }), undefined);
  assert.equal(studentWorseWarning({ baselineAccuracy: 0.9, finalAccuracy: 0.95, roundsDigested: 3 }), undefined);
  assert.equal(studentWorseWarning({ roundsDigested: 3 }), undefined, 'no eval_set');
  assert.equal(studentWorseWarning({ baselineAccuracy: 0.9, finalAccuracy: 0.9, roundsDigested: 0 }), undefined);
});
