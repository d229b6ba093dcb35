// A peer whose handshake was refused stays under the pre-handshake byte limit until its socket is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { SecureServer } from '../../../shared/channel/secure-server.ts';
import { PRE_AUTH_MAX_BYTES } from '../../../shared/channel/pre-auth-guard.ts';
import { allowlist, serverIdentity } from './helpers.ts';

/** A masked binary websocket frame (mask key zero), as a hostile client writes it by hand. */
function binaryFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = Buffer.alloc(10);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(n), 2);
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

/** Upgrades a raw TCP connection by hand: this client never answers a close frame and writes whatever it likes. */
async function rawUpgrade(port: number): Promise<{ sock: Socket; received: () => Buffer }> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  const chunks: Buffer[] = [];
  sock.on('data', (d) => chunks.push(d));
  await new Promise((r) => sock.once('connect', r));
  sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await new Promise((r) => sock.once('data', r));
  return { sock, received: () => Buffer.concat(chunks) };
}

test('a peer that fails its handshake on purpose cannot then stream megabytes while its socket closes', async () => {
  const http = createServer();
  const accepted: Socket[] = [];
  http.on('connection', (s) => accepted.push(s));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const server = await new SecureServer({ identity: serverIdentity, allowlist, server: http, handshakesPerSecondPerAddress: Infinity }).listen();
  const refused = new Promise<string>((r) => server.once('refused', (i) => r(i.code)));
  const { sock, received } = await rawUpgrade((http.address() as AddressInfo).port);
  try {
    const upgradeBytes = received().length;
    sock.write(binaryFrame(Buffer.from([0xc0]))); // msgpack nil: not a handshake message
    assert.equal(await refused, 'E_HANDSHAKE_FAILED');
    // the close frame (4011) arrives; a hostile peer ignores it and keeps writing 8 MiB frames
    while (received().length === upgradeBytes) await new Promise((r) => setTimeout(r, 5));
    const big = binaryFrame(Buffer.alloc(8 * 1024 * 1024));
    const started = Date.now();
    while (!sock.destroyed && Date.now() - started < 3000) {
      if (!sock.write(big)) await new Promise((r) => { sock.once('drain', r); sock.once('close', r); setTimeout(r, 50); });
    }
    const read = accepted[0]!.bytesRead;
    // before the fix the server went on reading (ws buffering and unmasking it) ~800 MB in its 2 s close grace
    assert.ok(read < PRE_AUTH_MAX_BYTES + 256 * 1024, `server read ${read} bytes from a refused peer`);
    assert.equal(sock.destroyed, true, 'the server cut the refused connection');
  } finally {
    sock.destroy();
    for (const s of accepted) s.destroy();
    await server.close();
    await new Promise((r) => http.close(r));
  }
});
