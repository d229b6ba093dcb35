// The aggregator's side of a session's first frames, fed synchronously (as `ws` delivers one TCP read): none is dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage } from '../../../protocols/codec.ts';
import type { ServerFinished, ServerHello } from '../../../protocols/messages.ts';
import { PROTOCOL_VERSION } from '../../../protocols/version.ts';
import { SecureServer } from '../../../shared/channel/secure-server.ts';
import type { FrameTransport } from '../../../shared/channel/transport.ts';
import { Allowlist } from '../../../shared/crypto/allowlist.ts';
import { FrameSealer } from '../../../shared/crypto/frame-cipher.ts';
import { ClientHandshake } from '../../../shared/crypto/handshake.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';

/** A transport the test drives by hand: what the server sends is recorded, frames are delivered synchronously. */
class HandDrivenTransport implements FrameTransport {
  readonly remoteAddress = 'test:site';
  readonly sent: Uint8Array[] = [];
  closedWith: number | undefined;
  deliver: (frame: Uint8Array) => void = () => {};
  get isOpen(): boolean { return this.closedWith === undefined; }
  send(frame: Uint8Array): void { this.sent.push(frame); }
  close(code: number): void { this.closedWith ??= code; }
  onFrame(handler: (frame: Uint8Array) => void): void { this.deliver = handler; }
  onClose(): void {}
  bufferedBytes(): number { return 0; }
}

test('frames a site sends right behind its client auth (one TCP read) reach the session in order', async () => {
  const serverId = generateIdentity();
  const site = generateIdentity();
  const server = new SecureServer({ identity: serverId, allowlist: new Allowlist([[site.publicKey, 'site-a']]) });
  const got: number[] = [];
  server.on('session', (s) => s.on('message', (m) => m.type === 'metrics' && got.push(m.round)));
  const transport = new HandDrivenTransport();
  const accepted = server.acceptTransport(transport);
  const hs = new ClientHandshake({ identity: site, serverPublicKey: serverId.publicKey });
  transport.deliver(encodeMessage(hs.hello()));
  const auth = hs.onServerHello(decodeMessage(transport.sent[0]!) as unknown as ServerHello);
  // client auth, then (same tick) the server finished it triggers lets the site seal two frames at once
  transport.deliver(encodeMessage(auth));
  const { keys } = hs.onServerFinished(decodeMessage(transport.sent[1]!) as unknown as ServerFinished);
  const sealer = new FrameSealer(keys.clientToServer);
  for (const round of [1, 2]) transport.deliver(sealer.seal(encodeMessage({ type: 'metrics', v: PROTOCOL_VERSION, round, values: {} })));
  const session = await accepted;
  assert.ok(session, 'the handshake completed');
  transport.deliver(sealer.seal(encodeMessage({ type: 'metrics', v: PROTOCOL_VERSION, round: 3, values: {} })));
  await new Promise((r) => setImmediate(r));
  // before the fix: frames 1 and 2 fell into the handshake driver's no-op handler, and 3 closed the session (4022)
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal(transport.closedWith, undefined);
  assert.equal(session.isOpen, true);
  await server.close();
});
