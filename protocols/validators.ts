// Runtime validators for messages v1: every decoded value passes here before any code acts on it.
import { ChannelError } from './error-catalogue.ts';
import { FIELD_LIMITS } from './limits.ts';
import { FieldReader, describe, isWireObject, type WireObject } from './field-reader.ts';
import type { WireValue } from './codec.ts';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR } from './version.ts';
import {
  REPLY_KINDS,
  type ClientAuth, type ClientHello, type Consensus, type ErrorMessage, type HandshakeMessage, type Heartbeat,
  type Join, type Leave, type Metrics, type ProtocolVersion, type QueryReply, type QueryRequest, type ServerFinished,
  type ServerHello, type SessionMessage, type Welcome, type Bye,
} from './messages.ts';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const SITE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ERROR_CODE_PATTERN = /^E_[A-Z0-9_]{1,62}$/;
const HASH_PATTERN = /^[A-Za-z0-9:+/=_.-]{1,160}$/;

type Reader = (r: FieldReader, v: ProtocolVersion) => object;

function readVersion(obj: WireObject, where: string): ProtocolVersion {
  const v = obj.v;
  // u16 each: the handshake transcript writes them so (SPEC §3)
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffff)) {
    throw new ChannelError('E_MSG_INVALID', `${where}.v: must be [major, minor] integers from 0 to 65535, got ${describe(v)}`);
  }
  const [major, minor] = v as number[];
  if (major !== PROTOCOL_MAJOR) {
    throw new ChannelError('E_UNSUPPORTED_VERSION', `peer speaks protocol v${major}.${minor}; this build speaks v${PROTOCOL_MAJOR}.${PROTOCOL_MINOR} only — upgrade the older side`);
  }
  return [major!, minor!] as const;
}

/** rows×cols must match a typed array's length exactly; overflow-safe. */
function checkShape(r: FieldReader, field: string, length: number, rows: number, cols: number): void {
  if (rows * cols !== length) r.fail(field, `has ${length} elements but rows×cols = ${rows}×${cols} = ${rows * cols}`);
}

const HANDSHAKE_READERS: Record<HandshakeMessage['type'], Reader> = {
  'hs.client_hello': (r, v): ClientHello => ({
    type: 'hs.client_hello', v, ephemeral: r.bytes('ephemeral', 32), nonce: r.bytes('nonce', 16), timestamp: r.int('timestamp', { min: 0 }),
  }),
  'hs.server_hello': (r, v): ServerHello => ({
    type: 'hs.server_hello', v, ephemeral: r.bytes('ephemeral', 32), nonce: r.bytes('nonce', 16), timestamp: r.int('timestamp', { min: 0 }),
    identity: r.bytes('identity', 32), signature: r.bytes('signature', 64),
  }),
  'hs.client_auth': (r, v): ClientAuth => ({
    type: 'hs.client_auth', v, identity: r.bytes('identity', 32), signature: r.bytes('signature', 64), confirm: r.bytes('confirm', 32),
  }),
  'hs.server_finished': (r, v): ServerFinished => ({
    type: 'hs.server_finished', v, confirm: r.bytes('confirm', 32), siteName: r.str('siteName', { pattern: SITE_NAME_PATTERN }),
  }),
};

const SESSION_READERS: Record<SessionMessage['type'], Reader> = {
  join: (r, v): Join => ({
    type: 'join', v, requestId: r.str('requestId', { pattern: ID_PATTERN }),
    siteName: r.str('siteName', { pattern: SITE_NAME_PATTERN }),
    capabilities: r.strings('capabilities', { maxItems: 64 }),
    datasetHashes: readStringMap(r, 'datasetHashes'),
  }),
  welcome: (r, v): Welcome => ({
    type: 'welcome', v, requestId: r.str('requestId', { pattern: ID_PATTERN }), runId: r.str('runId', { pattern: ID_PATTERN }), config: r.json('config'),
  }),
  leave: (r, v): Leave => dropUndefined({ type: 'leave', v, reason: r.str('reason', { max: FIELD_LIMITS.maxTextLength, optional: true }) }),
  query_request: (r, v): QueryRequest => ({
    type: 'query_request', v, requestId: r.str('requestId', { pattern: ID_PATTERN }), round: r.int('round', { min: 0 }),
    publicSet: r.object('publicSet', (p) => ({ datasetSpec: p.str('datasetSpec'), hash: p.str('hash', { pattern: HASH_PATTERN }) })),
    indices: r.typed('indices', [Uint32Array]), replyKind: r.oneOf('replyKind', REPLY_KINDS), params: r.numberMap('params'),
  }),
  query_reply: (r, v): QueryReply => {
    const m: QueryReply = {
      type: 'query_reply', v, requestId: r.str('requestId', { pattern: ID_PATTERN }), round: r.int('round', { min: 0 }),
      replyKind: r.oneOf('replyKind', REPLY_KINDS),
      rows: r.int('rows', { min: 0, max: FIELD_LIMITS.maxIndices }), cols: r.int('cols', { min: 1, max: FIELD_LIMITS.maxClasses }),
      votes: r.typed('votes', [Int32Array, Uint16Array], { optional: true, maxLength: 64 * 1024 * 1024 }),
      soft: r.typed('soft', [Float32Array], { optional: true, maxLength: 64 * 1024 * 1024 }),
      privacyEvent: r.json('privacyEvent', { optional: true }), stats: r.numberMap('stats', { optional: true }),
    };
    const isVotes = m.replyKind === 'votes' || m.replyKind === 'vote_histogram';
    if (isVotes && (!m.votes || m.soft)) r.fail('votes', `replyKind ${m.replyKind} carries votes and no soft`);
    if (!isVotes && (!m.soft || m.votes)) r.fail('soft', `replyKind ${m.replyKind} carries soft and no votes`);
    if (m.replyKind === 'votes') {
      if (m.cols !== 1) r.fail('cols', 'must be 1 for replyKind votes (one class id per row)');
      const votes = m.votes;
      if (!(votes instanceof Int32Array)) return r.fail('votes', 'must be an Int32Array for replyKind votes (−1 = abstain)');
      for (let i = 0; i < votes.length; i++) if (votes[i]! < -1) r.fail('votes', `element ${i} is ${votes[i]}; class ids are ≥ 0, −1 abstains`);
    }
    if (m.replyKind === 'vote_histogram' && m.votes instanceof Int32Array) {
      for (let i = 0; i < m.votes.length; i++) if (m.votes[i]! < 0) r.fail('votes', `element ${i} is negative; histogram counts are ≥ 0`);
    }
    checkShape(r, isVotes ? 'votes' : 'soft', (m.votes ?? m.soft)!.length, m.rows, m.cols);
    return dropUndefined(m);
  },
  consensus: (r, v): Consensus => {
    const m: Consensus = {
      type: 'consensus', v, round: r.int('round', { min: 0 }), indices: r.typed('indices', [Uint32Array]),
      rows: r.int('rows', { min: 0, max: FIELD_LIMITS.maxIndices }), cols: r.int('cols', { min: 1, max: FIELD_LIMITS.maxClasses }),
      labels: r.typed('labels', [Int32Array], { optional: true }), soft: r.typed('soft', [Float32Array], { optional: true, maxLength: 64 * 1024 * 1024 }),
    };
    if (!m.labels && !m.soft) r.fail('labels', 'a consensus carries labels, soft, or both');
    if (m.indices.length !== m.rows) r.fail('indices', `has ${m.indices.length} elements; rows is ${m.rows}`);
    if (m.labels) {
      if (m.labels.length !== m.rows) r.fail('labels', `has ${m.labels.length} elements; rows is ${m.rows}`);
      for (let i = 0; i < m.labels.length; i++) {
        if (m.labels[i]! < -1 || m.labels[i]! >= m.cols) r.fail('labels', `element ${i} is ${m.labels[i]}; labels are class ids below cols (${m.cols}), −1 marks unanswered`);
      }
    }
    if (m.soft) checkShape(r, 'soft', m.soft.length, m.rows, m.cols);
    return dropUndefined(m);
  },
  metrics: (r, v): Metrics => ({ type: 'metrics', v, round: r.int('round', { min: 0 }), values: r.numberMap('values') }),
  heartbeat: (r, v): Heartbeat => ({ type: 'heartbeat', v, kind: r.oneOf('kind', ['ping', 'pong'] as const), seq: r.int('seq', { min: 0 }) }),
  error: (r, v): ErrorMessage => dropUndefined({
    type: 'error', v, code: r.str('code', { pattern: ERROR_CODE_PATTERN }), message: r.str('message', { max: FIELD_LIMITS.maxTextLength }),
    requestId: r.str('requestId', { pattern: ID_PATTERN, optional: true }),
  }),
  bye: (r, v): Bye => ({ type: 'bye', v, reason: r.str('reason', { max: FIELD_LIMITS.maxTextLength }) }),
};

function readStringMap(r: FieldReader, name: string): Record<string, string> {
  return r.object(name, (sub) => {
    const out: Record<string, string> = {};
    const keys = sub.keys();
    if (keys.length > FIELD_LIMITS.maxMapKeys) sub.fail('', `${keys.length} entries; at most ${FIELD_LIMITS.maxMapKeys}`);
    for (const k of keys) {
      if (!ID_PATTERN.test(k)) sub.fail(k, 'keys must be dataset ids');
      out[k] = sub.str(k, { pattern: HASH_PATTERN });
    }
    return out;
  });
}

function dropUndefined<T extends object>(m: T): T {
  for (const k of Object.keys(m) as (keyof T)[]) if (m[k] === undefined) delete m[k];
  return m;
}

function validateWith<T>(readers: Record<string, Reader>, raw: WireValue, phase: string): T {
  if (!isWireObject(raw)) throw new ChannelError('E_MSG_INVALID', `a ${phase} message must be a map, got ${describe(raw)}`);
  const type = raw.type;
  if (typeof type !== 'string') throw new ChannelError('E_MSG_INVALID', `message.type: must be a string, got ${describe(type)}`);
  const v = readVersion(raw, type.slice(0, 40));
  const reader = Object.prototype.hasOwnProperty.call(readers, type) ? readers[type] : undefined;
  if (!reader) throw new ChannelError('E_MSG_INVALID', `unknown ${phase} message type "${type.slice(0, 40)}"`);
  // fields added by a newer minor version are dropped; at our minor or older, an unknown field is an error
  const r = new FieldReader(raw, type, v[1] > PROTOCOL_MINOR);
  r.markRead('type', 'v');
  const out = reader(r, v) as T;
  r.finish();
  return out;
}

/** Validates a decoded session message (after the handshake). Throws ChannelError with the close code to use. */
export function validateSessionMessage(raw: WireValue): SessionMessage {
  return validateWith<SessionMessage>(SESSION_READERS, raw, 'session');
}

/** Validates a decoded handshake message. */
export function validateHandshakeMessage(raw: WireValue): HandshakeMessage {
  return validateWith<HandshakeMessage>(HANDSHAKE_READERS, raw, 'handshake');
}
