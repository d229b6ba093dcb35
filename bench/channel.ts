// Secure channel benchmark on loopback: AEAD speed, throughput vs raw ws, handshake latency, 1,000 concurrent sessions.
// Run: node --expose-gc --import tsx bench/channel.ts   (prints one JSON object; progress on stderr)
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeMessage, encodeMessage } from '../protocols/codec.ts';
import { PROTOCOL_VERSION } from '../protocols/version.ts';
import type { QueryReply } from '../protocols/messages.ts';
import { Allowlist } from '../shared/crypto/allowlist.ts';
import { generateIdentity, type Identity } from '../shared/crypto/identity.ts';
import { SecureClient } from '../shared/channel/secure-client.ts';
import { SecureServer } from '../shared/channel/secure-server.ts';
import { runClientHandshake } from '../shared/channel/handshake-driver.ts';
import { WsTransport } from '../shared/channel/ws-transport.ts';
import { FrameOpener, FrameSealer } from '../shared/crypto/frame-cipher.ts';
import nacl from 'tweetnacl';
import { benchArgs } from './bench-args.ts';

benchArgs({
  name: 'channel',
  nodeFlags: '--expose-gc',
  summary: `Secure channel on loopback: AEAD seal+open speed, throughput vs raw ws (1 MiB and 64 KiB replies), handshake
latency, 1,000 concurrent sessions (docs/channel.md). Progress on stderr, one JSON object on stdout.`,
});

const MiB = 1024 * 1024;
const log = (s: string): void => void process.stderr.write(`[bench/channel] ${s}\n`);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** Ed25519 identity via node:crypto keygen (tweetnacl's keygen costs ~8 ms each; we need 1,000). */
function fastIdentity(): Identity {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  return { publicKey: new Uint8Array(pub), secretKey: new Uint8Array(Buffer.concat([seed, pub])) };
}

/** A query reply whose soft labels make the encoded message about `bytes` long. */
function payload(bytes: number): Omit<QueryReply, 'v'> {
  const cols = 256;
  const rows = Math.max(1, Math.floor(bytes / 4 / cols));
  const soft = new Float32Array(rows * cols);
  for (let i = 0; i < soft.length; i++) soft[i] = (i % 97) / 97;
  return { type: 'query_reply', requestId: 'bench', round: 1, replyKind: 'soft_labels', rows, cols, soft };
}

/**
 * MB/s (10⁶ bytes) of sealing then opening `frames` frames of 1 MiB: the channel's ChaCha20-Poly1305
 * (shared/crypto/frame-cipher.ts) and, for the design note, tweetnacl's secretbox.
 */
function aeadThroughput(frames: number): { chacha20_poly1305_node: number; tweetnacl_secretbox: number } {
  const plain = new Uint8Array(MiB).fill(7);
  const key = Buffer.alloc(32, 1);
  const time = (f: () => void, n: number) => { const t0 = performance.now(); for (let i = 0; i < n; i++) f(); return (n * MiB) / 1e6 / ((performance.now() - t0) / 1000); };
  const sealer = new FrameSealer(key), opener = new FrameOpener(key);
  time(() => opener.open(sealer.seal(plain)), 3);
  const chacha = time(() => opener.open(sealer.seal(plain)), frames);
  const nkey = new Uint8Array(32).fill(1), nonce = new Uint8Array(24);
  const box = () => { if (!nacl.secretbox.open(nacl.secretbox(plain, nonce, nkey), nonce, nkey)) throw new Error('secretbox failed'); };
  const nacls = time(box, Math.max(1, Math.round(frames / 20)));
  return { chacha20_poly1305_node: round2(chacha), tweetnacl_secretbox: round2(nacls) };
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round2 = (x: number): number => Math.round(x * 100) / 100;

/** A small query the aggregator sends; each site answers with `payload(bytes)`. */
const query = { type: 'query_request' as const, round: 1, publicSet: { datasetSpec: 'bench', hash: 'h' }, indices: new Uint32Array(256), replyKind: 'soft_labels' as const, params: {} };

/**
 * Raw ws: the aggregator sends `count` msgpack queries at once, the site answers each with the
 * same msgpack reply the secure run sends; both ends encode and decode — no handshake, no AEAD,
 * no validation.
 */
async function rawThroughput(bytes: number, count: number): Promise<number> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 64 * MiB });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const port = (http.address() as AddressInfo).port;
  const reply = payload(bytes);
  const site = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 64 * MiB });
  site.on('message', (data) => {
    const q = decodeMessage(data as Buffer) as { requestId: string };
    site.send(encodeMessage({ ...reply, v: PROTOCOL_VERSION, requestId: q.requestId }));
  });
  const aggregator = await new Promise<WebSocket>((r) => wss.once('connection', r));
  let received = 0;
  let total = 0;
  const done = new Promise<void>((resolve) => aggregator.on('message', (data) => {
    total += (decodeMessage(data as Buffer) as { soft: Float32Array }).soft.byteLength;
    if (++received === count) resolve();
  }));
  const t0 = performance.now();
  for (let i = 0; i < count; i++) aggregator.send(encodeMessage({ ...query, v: PROTOCOL_VERSION, requestId: `q${i}` }));
  await done;
  const s = (performance.now() - t0) / 1000;
  site.close();
  wss.close();
  http.closeAllConnections();
  http.close();
  return total / MiB / s;
}

/** Secure channel: the same exchange through server.request() and encrypted, validated frames. */
async function secureThroughput(bytes: number, count: number): Promise<number> {
  const serverId = generateIdentity();
  const site = generateIdentity();
  // a throughput test is a flood by design: inbound budgets off (they cap a peer at 32 MiB/s by default)
  const limits = { maxFrameBytes: 64 * MiB, maxInFlight: count, inboundBytesPerSecond: Infinity, inboundMessagesPerSecond: Infinity };
  const server = await new SecureServer({ identity: serverId, allowlist: new Allowlist([[site.publicKey, 'site']]), port: 0, limits }).listen();
  const client = new SecureClient({ url: server.url, identity: site, serverPublicKey: serverId.publicKey, reconnect: false, limits });
  const reply = payload(bytes);
  client.on('message', (m) => m.type === 'query_request' && client.send({ ...reply, requestId: m.requestId }));
  await client.start();
  await new Promise((r) => setTimeout(r, 20));
  const t0 = performance.now();
  const replies = await Promise.all(Array.from({ length: count }, () => server.request('site', query, { timeoutMs: 120_000 })));
  const s = (performance.now() - t0) / 1000;
  const total = replies.reduce((n, r) => n + (r as QueryReply).soft!.byteLength, 0);
  client.close();
  await server.close();
  return total / MiB / s;
}

async function handshakeLatency(n: number, primitives: 'node' | 'tweetnacl'): Promise<{ handshake: number[]; connect: number[] }> {
  const serverId = generateIdentity();
  const site = generateIdentity();
  const server = await new SecureServer({ identity: serverId, allowlist: new Allowlist([[site.publicKey, 'site']]), port: 0, handshakesPerSecondPerAddress: Infinity, primitives }).listen();
  const handshake: number[] = [];
  const connect: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const ws = new WebSocket(server.url, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    const t1 = performance.now();
    await runClientHandshake(new WsTransport(ws, server.url), { identity: site, serverPublicKey: serverId.publicKey, timeoutMs: 10_000, primitives: undefined });
    const t2 = performance.now();
    handshake.push(t2 - t1);
    connect.push(t2 - t0);
    ws.terminate();
  }
  await server.close();
  return { handshake, connect };
}

async function manySessions(n: number): Promise<{ connected: number; connectAllMs: number; extraRssMb: number; serverSessions: number }> {
  const serverId = generateIdentity();
  const sites = Array.from({ length: n }, fastIdentity);
  const server = await new SecureServer({
    identity: serverId, allowlist: new Allowlist(sites.map((s, i) => [s.publicKey, `site-${i}`] as const)), port: 0,
    handshakesPerSecondPerAddress: Infinity, limits: { handshakeTimeoutMs: 60_000 },
  }).listen();
  gc(); gc();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const clients = sites.map((identity) => new SecureClient({ url: server.url, identity, serverPublicKey: serverId.publicKey, reconnect: false, limits: { handshakeTimeoutMs: 60_000 } }));
  const results = await Promise.allSettled(clients.map((c) => c.start()));
  const connectAllMs = performance.now() - t0;
  gc(); gc();
  const rss1 = process.memoryUsage().rss;
  const connected = results.filter((r) => r.status === 'fulfilled').length;
  const serverSessions = server.connectedSites.length;
  for (const c of clients) c.close();
  await server.close();
  return { connected, connectAllMs, extraRssMb: (rss1 - rss0) / MiB, serverSessions };
}

async function main(): Promise<void> {
  const sizes: [string, number, number][] = [['1MiB', MiB, 200], ['64KiB', 64 * 1024, 2000]];
  const throughput: Record<string, { secure_mib_s: number; raw_ws_mib_s: number; ratio: number }> = {};
  for (const [name, bytes, count] of sizes) {
    await secureThroughput(bytes, Math.ceil(count / 10)); // warm-up
    await rawThroughput(bytes, Math.ceil(count / 10));
    const raw = await rawThroughput(bytes, count);
    const secure = await secureThroughput(bytes, count);
    throughput[name] = { secure_mib_s: round2(secure), raw_ws_mib_s: round2(raw), ratio: round2(secure / raw) };
    log(`${name}: secure ${secure.toFixed(0)} MiB/s, raw ws ${raw.toFixed(0)} MiB/s`);
  }
  const aead = aeadThroughput(200);
  log(`AEAD seal+open, 1 MiB frames: chacha20-poly1305 ${aead.chacha20_poly1305_node} MB/s, tweetnacl secretbox ${aead.tweetnacl_secretbox} MB/s`);
  await handshakeLatency(20, 'node');
  const hs = await handshakeLatency(300, 'node');
  log(`handshake p50 ${percentile(hs.handshake, 50).toFixed(2)} ms`);
  const hsNacl = await handshakeLatency(15, 'tweetnacl');
  const many = await manySessions(1000);
  log(`1000 sessions: ${many.connected} connected in ${many.connectAllMs.toFixed(0)} ms, +${many.extraRssMb.toFixed(1)} MB RSS`);
  const out = {
    bench: 'channel',
    node: process.version,
    aead: 'chacha20-poly1305 (node:crypto)',
    aead_seal_open_mb_s: aead,
    signatures_and_dh: 'node:crypto Ed25519/X25519 (tweetnacl-compatible keys)',
    throughput_mib_s: throughput,
    ratio_1mib: throughput['1MiB']!.ratio,
    handshake_ms: { p50: round2(percentile(hs.handshake, 50)), p99: round2(percentile(hs.handshake, 99)), n: hs.handshake.length },
    connect_incl_tcp_ws_ms: { p50: round2(percentile(hs.connect, 50)), p99: round2(percentile(hs.connect, 99)) },
    handshake_ms_tweetnacl_server: { p50: round2(percentile(hsNacl.handshake, 50)), n: hsNacl.handshake.length },
    sessions_1000: { requested: 1000, connected: many.connected, server_sessions: many.serverSessions, connect_all_ms: Math.round(many.connectAllMs), extra_rss_mb: round2(many.extraRssMb), note: 'clients and aggregator in one process: RSS covers both ends' },
    gc_exposed: (globalThis as { gc?: unknown }).gc !== undefined,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

await main();
