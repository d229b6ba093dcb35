// Inbound budgets on loopback: an authenticated site floods 16 MiB replies; what it costs the aggregator and an honest site, budgets off vs defaults.
// Run: nice -n 10 node --import tsx bench/inbound-flood.ts   (prints one JSON object; progress on stderr)
import { fork } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { encodeMessage } from '../protocols/codec.ts';
import type { ConnectionLimits } from '../protocols/limits.ts';
import { PROTOCOL_VERSION } from '../protocols/version.ts';
import { Allowlist } from '../shared/crypto/allowlist.ts';
import { FrameSealer } from '../shared/crypto/frame-cipher.ts';
import { generateIdentity, type Identity } from '../shared/crypto/identity.ts';
import { runClientHandshake } from '../shared/channel/handshake-driver.ts';
import { SecureClient } from '../shared/channel/secure-client.ts';
import { SecureServer } from '../shared/channel/secure-server.ts';
import { WsTransport } from '../shared/channel/ws-transport.ts';
import { benchArgs } from './bench-args.ts';

const { values: args } = benchArgs({
  name: 'inbound-flood',
  summary: `Inbound budgets on loopback: an authenticated site (a child process) floods 16 MiB replies; what it costs the
aggregator and an honest site, budgets off vs defaults (docs/channel.md). Progress on stderr, one JSON object on stdout.`,
  // the bench re-runs itself with --flooder as the flooding site
  options: { flooder: { kind: 'boolean', hidden: true, help: 'internal: be the flooding child' } },
});

const MiB = 1024 * 1024;
const FLOOD_MS = 4000;
const log = (s: string): void => void process.stderr.write(`[bench/inbound-flood] ${s}\n`);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** The flooding site (child process, so its own sealing does not share the aggregator's event loop). */
async function flood(): Promise<void> {
  const url = process.env.FLOOD_URL!;
  const identity: Identity = { publicKey: unhex(process.env.FLOOD_PUB!), secretKey: unhex(process.env.FLOOD_SECRET!) };
  const serverPublicKey = unhex(process.env.FLOOD_SERVER!);
  const rows = Math.floor((16 * MiB - 4096) / 4 / 256);
  const plaintext = encodeMessage({ type: 'query_reply', v: PROTOCOL_VERSION, requestId: 'forged', round: 0, replyKind: 'soft_labels', rows, cols: 256, soft: new Float32Array(rows * 256).fill(0.5) });
  const end = Date.now() + FLOOD_MS;
  let sessions = 0, frames = 0;
  while (Date.now() < end) {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 32 * MiB });
    ws.on('error', () => {});
    const closed = new Promise<void>((r) => ws.on('close', () => r()));
    const opened = await Promise.race([new Promise<boolean>((r) => ws.once('open', () => r(true))), closed.then(() => false)]);
    if (!opened) { await new Promise((r) => setTimeout(r, 20)); continue; }
    try {
      const hs = await runClientHandshake(new WsTransport(ws, url), { identity, serverPublicKey, timeoutMs: 2000 });
      sessions++;
      const sealer = new FrameSealer(hs.keys.clientToServer);
      while (ws.readyState === ws.OPEN && Date.now() < end) {
        if (ws.bufferedAmount > 32 * MiB) { await new Promise((r) => setTimeout(r, 2)); continue; }
        ws.send(sealer.seal(plaintext));
        frames++;
        await new Promise((r) => setImmediate(r));
      }
    } catch { /* refused (rate limit): try again */ }
    ws.close();
    await closed;
  }
  process.send!({ sessions, frames });
}

async function scenario(name: string, limits: Partial<ConnectionLimits>) {
  const serverIdentity = generateIdentity();
  const flooder = generateIdentity();
  const honest = generateIdentity();
  const server = await new SecureServer({ identity: serverIdentity, allowlist: new Allowlist([[flooder.publicKey, 'flooder'], [honest.publicKey, 'honest']]), port: 0, limits }).listen();
  const closes: Record<string, number> = {};
  server.on('session', (s) => s.on('close', (i) => { if (s.siteName === 'flooder') closes[i.errorCode ?? String(i.code)] = (closes[i.errorCode ?? String(i.code)] ?? 0) + 1; }));
  const client = new SecureClient({ url: server.url, identity: honest, serverPublicKey: serverIdentity.publicKey, reconnect: false });
  client.on('message', (m) => {
    if (m.type === 'query_request') client.send({ type: 'query_reply', requestId: m.requestId, round: m.round, replyKind: 'votes', rows: 1, cols: 1, votes: Int32Array.of(1) });
  });
  await client.start();
  const child = fork(new URL(import.meta.url), ['--flooder'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, FLOOD_URL: server.url, FLOOD_PUB: hex(flooder.publicKey), FLOOD_SECRET: hex(flooder.secretKey), FLOOD_SERVER: hex(serverIdentity.publicKey) },
  });
  const flooderReport = new Promise<{ sessions: number; frames: number }>((r) => child.once('message', (m) => r(m as { sessions: number; frames: number })));
  await new Promise((r) => setTimeout(r, 300)); // let it connect
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rtts: number[] = [];
  let failed = 0;
  while (performance.now() - t0 < FLOOD_MS - 500) {
    const start = performance.now();
    try {
      await server.request('honest', { type: 'query_request', round: 0, publicSet: { datasetSpec: 'p', hash: 'h' }, indices: Uint32Array.of(1), replyKind: 'votes', params: {} }, { timeoutMs: 5000 });
      rtts.push(performance.now() - start);
    } catch { failed++; }
    await new Promise((r) => setTimeout(r, 20));
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  delay.disable();
  const report = await flooderReport;
  const admitted = server.budgetFor('flooder').stats;
  client.close();
  await server.close();
  const sorted = [...rtts].sort((a, b) => a - b);
  const pct = (p: number): number => Number(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(1));
  const out = {
    scenario: name,
    flooder: { sessions: report.sessions, frames_sent: report.frames, frames_decrypted: admitted.frames, mib_decrypted: Math.round(admitted.bytes / MiB), closes },
    aggregator_cpu_share: Number(((cpu.user + cpu.system) / 1000 / wallMs).toFixed(2)),
    honest_request_rtt_ms: { n: rtts.length, failed, p50: pct(0.5), p99: pct(0.99), max: Number(sorted.at(-1)!.toFixed(1)) },
    event_loop_delay_ms: { p50: Number((delay.percentile(50) / 1e6).toFixed(1)), max: Number((delay.max / 1e6).toFixed(1)) },
  };
  log(JSON.stringify(out));
  return out;
}

if (args.flooder) {
  await flood();
  process.exit(0);
} else {
  const off = await scenario('budgets off', { inboundBytesPerSecond: Infinity, inboundMessagesPerSecond: Infinity, maxUnsolicitedMessages: Infinity });
  const defaults = await scenario('defaults', {});
  process.stdout.write(`${JSON.stringify({ bench: 'inbound-flood', flood_ms: FLOOD_MS, frame_mib: 16, scenarios: [off, defaults] })}\n`);
  process.exit(0);
}
