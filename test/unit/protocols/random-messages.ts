// Seeded random messages of every type, as the protocol's validators accept them (for property and fuzz tests).
import { REPLY_KINDS } from '../../../protocols/messages.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import type { SeededRng } from '../../../shared/util/prng.ts';

/** One unvalidated message object; `handshake` says which validator it belongs to. */
export interface RandomMessage { message: Record<string, unknown>; handshake: boolean }

const id = (rng: SeededRng, prefix: string): string => `${prefix}-${rng.int(1_000_000)}`;
const bytes = (rng: SeededRng, n: number): Uint8Array => Uint8Array.from({ length: n }, () => rng.int(256));
const numbers = (rng: SeededRng, keys: number): Record<string, number> =>
  Object.fromEntries(Array.from({ length: keys }, (_, i) => [`m${i}`, rng.int(3) === 0 ? rng.int(1000) : rng.next() * 100 - 50]));

/** A privacy event as sites write them, sometimes with data-dependent votes or a composition. */
function privacyEvent(rng: SeededRng): Record<string, unknown> {
  switch (rng.int(3)) {
    case 0: return { type: 'gaussian', noise_multiplier: 0.5 + rng.next(), count: 1 + rng.int(10_000) };
    case 1: return { type: 'pate_gnmax', sigma: 40, votes: Array.from({ length: 1 + rng.int(100) }, () => rng.int(250)) };
    default: return { type: 'composed', count: 1 + rng.int(100), events: [{ type: 'pate_threshold', sigma: 150, threshold: 200 }, { type: 'pate_gnmax', sigma: 40 }] };
  }
}

/** Free-form JSON (welcome config): nested maps and lists, strings and finite numbers. */
function json(rng: SeededRng, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0, n = rng.int(6); i < n; i++) {
    const k = `c${i}`;
    const pick = depth >= 6 ? rng.int(3) : rng.int(5);
    out[k] = pick === 0 ? rng.next() : pick === 1 ? `s${rng.int(99)}` : pick === 2 ? rng.int(2) === 0 : pick === 3 ? json(rng, depth + 1) : [1, 'a', null, rng.next()];
  }
  return out;
}

/** `rounds` messages of each of the 14 types (10 session, 4 handshake), with random sizes and optional fields. */
export function randomMessages(rng: SeededRng, rounds: number): RandomMessage[] {
  const out: RandomMessage[] = [];
  const v = PROTOCOL_VERSION;
  for (let r = 0; r < rounds; r++) {
    const rows = rng.int(50);
    const cols = 1 + rng.int(12);
    const kind = REPLY_KINDS[rng.int(REPLY_KINDS.length)]!;
    const reply: Record<string, unknown> = { type: 'query_reply', v, requestId: id(rng, 'q'), round: rng.int(100), replyKind: kind, rows, cols: kind === 'votes' ? 1 : cols };
    if (kind === 'votes') reply.votes = Int32Array.from({ length: rows }, () => rng.int(cols + 1) - 1);
    else if (kind === 'vote_histogram') reply.votes = rng.int(2) === 0 ? Uint16Array.from({ length: rows * cols }, () => rng.int(5)) : Int32Array.from({ length: rows * cols }, () => rng.int(5));
    else reply.soft = Float32Array.from({ length: rows * cols }, () => rng.next());
    if (rng.int(2) === 0) reply.privacyEvent = privacyEvent(rng);
    if (rng.int(2) === 0) reply.stats = { teachers: 1 + rng.int(10), ...numbers(rng, rng.int(4)) };
    const consensus: Record<string, unknown> = { type: 'consensus', v, round: rng.int(100), indices: Uint32Array.from({ length: rows }, () => rng.int(60_000)), rows, cols };
    if (rng.int(3) !== 0) consensus.labels = Int32Array.from({ length: rows }, () => rng.int(cols + 1) - 1);
    if (!consensus.labels || rng.int(2) === 0) consensus.soft = Float32Array.from({ length: rows * cols }, () => rng.next());
    const session: Record<string, unknown>[] = [
      { type: 'join', v, requestId: id(rng, 'j'), siteName: id(rng, 'site'), capabilities: REPLY_KINDS.slice(0, rng.int(5)), datasetHashes: rng.int(2) ? { 'mnist:public': 'sha256:ab12' } : {} },
      { type: 'welcome', v, requestId: id(rng, 'j'), runId: id(rng, 'run'), config: json(rng, 0) },
      rng.int(2) ? { type: 'leave', v } : { type: 'leave', v, reason: 'done '.repeat(rng.int(50)) },
      { type: 'query_request', v, requestId: id(rng, 'q'), round: rng.int(100), publicSet: { datasetSpec: 'mnist:public', hash: 'sha256:ab12' }, indices: Uint32Array.from({ length: rng.int(300) }, () => rng.int(60_000)), replyKind: kind, params: numbers(rng, rng.int(5)) },
      reply,
      consensus,
      { type: 'metrics', v, round: rng.int(100), values: numbers(rng, rng.int(20)) },
      { type: 'heartbeat', v, kind: rng.int(2) ? 'ping' : 'pong', seq: rng.int(2 ** 31) },
      rng.int(2) ? { type: 'error', v, code: 'E_SITE_FAILED', message: 'x'.repeat(rng.int(300)) } : { type: 'error', v, code: 'E_X', message: 'm', requestId: id(rng, 'q') },
      { type: 'bye', v, reason: 'closing' },
    ];
    for (const message of session) out.push({ message, handshake: false });
    const hs: Record<string, unknown>[] = [
      { type: 'hs.client_hello', v, ephemeral: bytes(rng, 32), nonce: bytes(rng, 16), timestamp: Date.now() },
      { type: 'hs.server_hello', v, ephemeral: bytes(rng, 32), nonce: bytes(rng, 16), timestamp: Date.now(), identity: bytes(rng, 32), signature: bytes(rng, 64) },
      { type: 'hs.client_auth', v, identity: bytes(rng, 32), signature: bytes(rng, 64), confirm: bytes(rng, 32) },
      { type: 'hs.server_finished', v, confirm: bytes(rng, 32), siteName: id(rng, 'site') },
    ];
    for (const message of hs) out.push({ message, handshake: true });
  }
  return out;
}
