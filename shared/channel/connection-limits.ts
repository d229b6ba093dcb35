// Fills in and validates ConnectionLimits once, in the server's and the client's constructors.
import { DEFAULT_CONNECTION_LIMITS, MESSAGE_SIZE_LIMITS, type ConnectionLimits } from '../../protocols/limits.ts';
import { check } from '../util/errors.ts';
import { FRAME_OVERHEAD } from '../crypto/frame-cipher.ts';
import { CONFIG_FILE_FIELDS, snakeCase } from '../util/config-fields.ts';

type Rule = 'positiveInteger' | 'positiveMs' | 'rate' | 'countOrInfinity' | 'capOrInfinity';

/** How each option is checked. Rates and inbound counts may be Infinity (that limit is off). */
const RULES: Record<keyof ConnectionLimits, Rule> = {
  maxFrameBytes: 'positiveInteger',
  maxInFlight: 'positiveInteger',
  handshakeTimeoutMs: 'positiveMs',
  maxPendingHandshakes: 'positiveInteger',
  maxPendingHandshakesPerAddress: 'capOrInfinity',
  helloTimeoutMs: 'positiveMs',
  maxConnectionsPerAddress: 'capOrInfinity',
  maxConnections: 'capOrInfinity',
  heartbeatIntervalMs: 'positiveMs',
  idleTimeoutMs: 'positiveMs',
  maxClockSkewMs: 'positiveMs',
  requestTimeoutMs: 'positiveMs',
  inboundBytesPerSecond: 'rate',
  inboundBurstBytes: 'rate',
  inboundMessagesPerSecond: 'rate',
  inboundBurstMessages: 'rate',
  maxUnsolicitedMessages: 'countOrInfinity',
  unsolicitedForgiveMs: 'rate',
  maxSendBufferBytes: 'rate',
};

const WHY: Record<Rule, string> = {
  positiveInteger: 'must be a positive integer',
  positiveMs: 'must be a positive, finite number of milliseconds',
  rate: 'must be a positive number (Infinity turns the limit off)',
  countOrInfinity: 'must be an integer of at least 0, or Infinity',
  capOrInfinity: 'must be a positive integer, or Infinity (that cap off)',
};

function valid(rule: Rule, v: unknown): boolean {
  if (typeof v !== 'number' || Number.isNaN(v)) return false;
  switch (rule) {
    case 'positiveInteger': return Number.isSafeInteger(v) && v > 0;
    case 'positiveMs': return Number.isFinite(v) && v > 0;
    case 'rate': return v > 0;
    case 'countOrInfinity': return v === Infinity || (Number.isSafeInteger(v) && v >= 0);
    case 'capOrInfinity': return v === Infinity || (Number.isSafeInteger(v) && v > 0);
  }
}

/**
 * The defaults with `given` on top, checked: a typo'd option or a nonsensical value is a usage
 * error (E_INVALID_PARAMETER) naming the option, here rather than as a surprise mid-run.
 * `inboundBurstBytes` and `maxSendBufferBytes`, when not given, are four frames of maxFrameBytes, so
 * that changing the frame limit alone keeps working; when given, each must hold at least one frame.
 */
export function resolveConnectionLimits(given: Partial<ConnectionLimits> = {}, field = 'limits', nameOf: (key: string) => string = (k) => k): ConnectionLimits {
  check(given !== null && typeof given === 'object', field, 'must be an object of connection limits');
  const out: Record<string, number> = { ...DEFAULT_CONNECTION_LIMITS };
  for (const [key, value] of Object.entries(given)) {
    check(Object.prototype.hasOwnProperty.call(RULES, key), `${field}.${nameOf(key)}`, `is not a connection limit; known: ${Object.keys(RULES).map(nameOf).join(', ')}`);
    if (value === undefined) continue;
    const rule = RULES[key as keyof ConnectionLimits];
    check(valid(rule, value), `${field}.${nameOf(key)}`, `${WHY[rule]} (got ${typeof value === 'number' ? String(value) : JSON.stringify(value)})`);
    out[key] = value;
  }
  const limits = out as unknown as ConnectionLimits;
  // No message type may exceed the largest per-type limit: a bigger frame would only be refused after decryption.
  const largest = Math.max(...Object.values(MESSAGE_SIZE_LIMITS));
  check(limits.maxFrameBytes <= largest, `${field}.${nameOf('maxFrameBytes')}`,
    `must be at most ${largest} (the largest message a type allows, protocols/limits.ts); got ${limits.maxFrameBytes}`);
  const oneFrame = limits.maxFrameBytes + FRAME_OVERHEAD;
  if (given.inboundBurstBytes === undefined) limits.inboundBurstBytes = 4 * oneFrame;
  check(limits.inboundBurstBytes >= oneFrame, `${field}.${nameOf('inboundBurstBytes')}`,
    `${limits.inboundBurstBytes} bytes cannot admit one frame of maxFrameBytes (${limits.maxFrameBytes} + ${FRAME_OVERHEAD} bytes of header and tag); raise it to at least ${oneFrame}`);
  if (given.maxSendBufferBytes === undefined) limits.maxSendBufferBytes = 4 * oneFrame;
  check(limits.maxSendBufferBytes >= oneFrame, `${field}.${nameOf('maxSendBufferBytes')}`,
    `${limits.maxSendBufferBytes} bytes cannot hold one frame of maxFrameBytes (${limits.maxFrameBytes} + ${FRAME_OVERHEAD} bytes of header and tag): nothing large could be sent; raise it to at least ${oneFrame}`);
  check(limits.inboundBurstMessages >= 1, `${field}.${nameOf('inboundBurstMessages')}`, `must be at least 1 (got ${limits.inboundBurstMessages})`);
  return limits;
}

/**
 * The `connection_limits` section of run.yaml and site.yaml: any ConnectionLimits option in
 * snake_case (`inbound_messages_per_second: 2000`, `.inf` turns a rate off). Unknown names get a
 * did-you-mean; values are checked as the server and client constructors check them. Absent or
 * empty: undefined (the defaults).
 */
export function connectionLimitsAt(v: unknown, field = 'connection_limits'): Partial<ConnectionLimits> | undefined {
  if (v === undefined || v === null) return undefined;
  const m = CONFIG_FILE_FIELDS.mapping(v, field);
  const byName = new Map(Object.keys(RULES).map((k) => [snakeCase(k), k]));
  CONFIG_FILE_FIELDS.onlyKeys(m, [...byName.keys()], field);
  const given = Object.fromEntries(Object.entries(m).map(([name, value]) => [byName.get(name)!, value])) as Partial<ConnectionLimits>;
  resolveConnectionLimits(given, field, snakeCase);
  return given;
}

/**
 * One line per protection that `given` switches off (a rate or the strike count set to Infinity),
 * for the server and the client to print at start: an operator should see it, not find it later.
 */
export function disabledProtections(given: Partial<ConnectionLimits> | undefined): string[] {
  return Object.entries(given ?? {}).filter(([, v]) => v === Infinity)
    .map(([k]) => `warning: connection_limits.${snakeCase(k)} is .inf: that protection is off for this side's peers`);
}
