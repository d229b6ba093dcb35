// Known-answer tests of the log-space special functions against scipy 1.17 values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  erfc, erfcInv, erfcInvLog, logAddExp, logErfc, logGamma, logNdtr, logSubExp, log1mExp,
} from '../../../shared/privacy/special-functions.ts';

function close(actual: number, expected: number, rtol: number, what: string): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(err <= rtol, `${what}: got ${actual}, expected ${expected} (rel. error ${err})`);
}

// scipy: log(2) + special.log_ndtr(-x·√2)
const LOG_ERFC: [number, number][] = [[-6, 0.6931471805599453], [-1.5, 0.6760545027339605], [-0.5, 0.4190391477755596], [0.2, -0.25193223378261687], [0.9, -1.5940972465793175], [1.0, -1.849605509933249], [1.7, -4.1221552342439045], [3, -10.720363041981116], [8, -66.65947197080519], [27, -732.8688865078977], [100, -10005.177585122668]];
const GAMMALN: [number, number][] = [[0.1, 2.252712651734206], [0.5, 0.5723649429247], [1.5, -0.12078223763524526], [2.5, 0.2846828704729192], [7.3, 7.147892523022249], [14.99, 25.164481163825506], [15, 25.191221182738683], [20.5, 40.8315009745308], [101.5, 366.0456981952767], [1001.7, 5916.964201945569], [-0.5, 1.2655121234846454], [-1.5, 0.860047015376481], [-7.3, -7.779101629826853], [-100.1, -361.88135258370886]];
const ERFCINV: [number, number][] = [[1e-300, 26.209469960516124], [1e-100, 15.065574702592647], [1e-20, 6.601580622355143], [1e-05, 3.1234132743408756], [0.01, 1.8213863677184499], [0.3, 0.7328690779592171], [0.9999, 8.862269277727972e-05], [1.3, -0.27246271472675443], [1.99, -1.8213863677184496]];
const ERFC: [number, number][] = [[-2, 1.9953222650189528], [-0.3, 1.3286267594591274], [0, 1.0], [0.5, 0.4795001221869535], [0.999, 0.1577147297935031], [1.001, 0.15688451452192373], [2, 0.004677734981047266], [5, 1.5374597944280347e-12], [10, 2.0884875837625446e-45]];
const LOG_NDTR: [number, number][] = [[-40, -804.6084420137539], [-10, -53.23128515051248], [-1, -1.8410216450092634], [0, -0.6931471805599453], [1, -0.1727537790234499], [5, -2.8665161296376294e-07], [10, -7.61985302416047e-24]];

test('logErfc matches scipy, including far tails where erfc underflows', () => {
  for (const [x, y] of LOG_ERFC) close(logErfc(x), y, 1e-13, `logErfc(${x})`);
  assert.equal(logErfc(Infinity), -Infinity);
  assert.ok(Number.isFinite(logErfc(1e4)));
});

test('erfc matches scipy on both sides of the series/continued-fraction switch', () => {
  for (const [x, y] of ERFC) close(erfc(x), y, 1e-13, `erfc(${x})`);
});

test('logNdtr matches scipy.special.log_ndtr', () => {
  for (const [x, y] of LOG_NDTR) close(logNdtr(x), y, 1e-12, `logNdtr(${x})`);
});

test('logGamma matches scipy.special.gammaln for positive and negative non-integers', () => {
  for (const [x, y] of GAMMALN) close(logGamma(x), y, 1e-13, `logGamma(${x})`);
  assert.equal(logGamma(-3), Infinity);
  assert.equal(logGamma(1), 0);
  assert.equal(logGamma(2), 0);
});

test('erfcInv matches scipy.special.erfcinv down to 1e-300, and inverts logErfc at 1e-1000', () => {
  for (const [y, x] of ERFCINV) close(erfcInv(y), x, 1e-13, `erfcInv(${y})`);
  const x = erfcInvLog(-1000 * Math.LN10);
  close(logErfc(x), -1000 * Math.LN10, 1e-14, 'round trip at 1e-1000');
  assert.ok(Number.isNaN(erfcInv(-0.1)));
});

test('log-space helpers are exact at their edges', () => {
  assert.equal(logAddExp(-Infinity, 3), 3);
  close(logAddExp(1000, 1000), 1000 + Math.LN2, 1e-15, 'logAddExp');
  close(logSubExp(Math.log(5), Math.log(3)), Math.log(2), 1e-15, 'logSubExp');
  assert.equal(log1mExp(0), -Infinity);
  close(log1mExp(-1e-20), Math.log(1e-20), 1e-12, 'log1mExp near 0');
  assert.throws(() => log1mExp(0.1), RangeError);
});
