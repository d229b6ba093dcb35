// The handshake state machines without sockets: agreement, authentication, replay and confirmation failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nacl from 'tweetnacl';
import { ClientHandshake, ServerHandshake } from '../../../shared/crypto/handshake.ts';
import { generateIdentity } from '../../../shared/crypto/identity.ts';
import { NonceCache } from '../../../shared/crypto/nonce-cache.ts';
import { nodePrimitives, tweetnaclPrimitives } from '../../../shared/crypto/primitives.ts';
import { FrameOpener, FrameSealer } from '../../../shared/crypto/frame-cipher.ts';
import { Transcript } from '../../../shared/crypto/transcript.ts';

const server = generateIdentity();
const site = generateIdentity();
const siteNameOf = (k: Uint8Array) => (Buffer.from(k).equals(Buffer.from(site.publicKey)) ? 'site-a' : undefined);

function run(opts: { pinned?: Uint8Array; clientIdentity?: typeof site; cache?: NonceCache } = {}) {
  const c = new ClientHandshake({ identity: opts.clientIdentity ?? site, serverPublicKey: opts.pinned ?? server.publicKey });
  const s = new ServerHandshake({ identity: server, siteNameOf, nonceCache: opts.cache ?? new NonceCache(300_000) });
  const hello = c.hello();
  const serverHello = s.onClientHello(hello);
  const auth = c.onServerHello(serverHello);
  const { finished, result: serverResult } = s.onClientAuth(auth);
  const clientResult = c.onServerFinished(finished);
  return { hello, serverHello, auth, finished, clientResult, serverResult };
}

test('both sides derive the same per-direction keys and learn the authenticated identities', () => {
  const { clientResult, serverResult } = run();
  assert.deepEqual(clientResult.keys.clientToServer, serverResult.keys.clientToServer);
  assert.deepEqual(clientResult.keys.serverToClient, serverResult.keys.serverToClient);
  assert.notDeepEqual(clientResult.keys.clientToServer, clientResult.keys.serverToClient);
  assert.equal(clientResult.siteName, 'site-a');
  assert.deepEqual(serverResult.peerPublicKey, site.publicKey);
  // forward secrecy: a second handshake between the same identities gets fresh keys
  assert.notDeepEqual(run().clientResult.keys.clientToServer, clientResult.keys.clientToServer);
});

test('refusals: pinned key mismatch, unknown site, tampered signature, replayed hello, wrong confirmation', () => {
  assert.throws(() => run({ pinned: generateIdentity().publicKey }), { code: 'E_SERVER_KEY_MISMATCH' });
  assert.throws(() => run({ clientIdentity: generateIdentity() }), { code: 'E_UNKNOWN_SITE_KEY' });
  const c = new ClientHandshake({ identity: site, serverPublicKey: server.publicKey });
  const s = new ServerHandshake({ identity: server, siteNameOf, nonceCache: new NonceCache(300_000) });
  const sh = s.onClientHello(c.hello());
  const badSig = { ...sh, signature: Uint8Array.from(sh.signature, (b, i) => (i === 0 ? b ^ 1 : b)) };
  assert.throws(() => c.onServerHello(badSig), { code: 'E_BAD_SIGNATURE' });
  const cache = new NonceCache(300_000);
  const c1 = new ClientHandshake({ identity: site, serverPublicKey: server.publicKey });
  const hello = c1.hello();
  new ServerHandshake({ identity: server, siteNameOf, nonceCache: cache }).onClientHello(hello);
  assert.throws(() => new ServerHandshake({ identity: server, siteNameOf, nonceCache: cache }).onClientHello(hello), { code: 'E_HANDSHAKE_REPLAY' });
  const c2 = new ClientHandshake({ identity: site, serverPublicKey: server.publicKey });
  const s2 = new ServerHandshake({ identity: server, siteNameOf, nonceCache: new NonceCache(300_000) });
  const auth = c2.onServerHello(s2.onClientHello(c2.hello()));
  assert.throws(() => s2.onClientAuth({ ...auth, confirm: new Uint8Array(32) }), { code: 'E_KEY_CONFIRMATION' });
});

test('a client auth signed over another transcript does not verify', () => {
  const a = run();
  const c = new ClientHandshake({ identity: site, serverPublicKey: server.publicKey });
  const s = new ServerHandshake({ identity: server, siteNameOf, nonceCache: new NonceCache(300_000) });
  c.onServerHello(s.onClientHello(c.hello()));
  assert.throws(() => s.onClientAuth(a.auth), { code: 'E_BAD_SIGNATURE' });
});

test('node:crypto and tweetnacl primitives are interchangeable (same Ed25519 signatures, same X25519 secrets)', () => {
  const msg = new TextEncoder().encode('known message');
  const sigNode = nodePrimitives.sign(msg, site.secretKey);
  const sigNacl = tweetnaclPrimitives.sign(msg, site.secretKey);
  assert.deepEqual(sigNode, sigNacl);
  assert.ok(tweetnaclPrimitives.verify(msg, sigNode, site.publicKey));
  assert.ok(nodePrimitives.verify(msg, sigNacl, site.publicKey));
  assert.equal(nodePrimitives.verify(msg, sigNacl, server.publicKey), false);
  // RFC 8032 test vector 1 (empty message)
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const kp = nacl.sign.keyPair.fromSeed(seed);
  assert.equal(Buffer.from(kp.publicKey).toString('hex'), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  assert.equal(Buffer.from(nodePrimitives.sign(new Uint8Array(0), kp.secretKey)).toString('hex').slice(0, 32), 'e5564300c360ac729086e2cc806e828a');
  const a = nodePrimitives.ephemeralKeyPair();
  const b = tweetnaclPrimitives.ephemeralKeyPair();
  const bPub = b.publicKey;
  assert.deepEqual(a.agree(bPub), b.agree(a.publicKey));
  assert.equal(nodePrimitives.ephemeralKeyPair().agree(new Uint8Array(32)), null, 'low-order point refused');
});

test('the allowlist is not an oracle: a key the peer cannot sign for fails as a bad signature, listed or not', () => {
  const attempt = (claimed: Uint8Array) => {
    const intruder = generateIdentity();
    const c = new ClientHandshake({ identity: intruder, serverPublicKey: server.publicKey });
    const s = new ServerHandshake({ identity: server, siteNameOf, nonceCache: new NonceCache(300_000) });
    const auth = c.onServerHello(s.onClientHello(c.hello()));
    // The intruder claims another key, signing with its own: it holds no secret key for the claimed one.
    try { s.onClientAuth({ ...auth, identity: claimed }); } catch (e) { return (e as { code: string }).code; }
    return 'accepted';
  };
  assert.equal(attempt(site.publicKey), 'E_BAD_SIGNATURE'); // allowlisted
  assert.equal(attempt(generateIdentity().publicKey), 'E_BAD_SIGNATURE'); // not allowlisted
});

test('unknown key share: an allowlisted insider relaying a site\'s handshake under its own key and signature is refused (E_KEY_CONFIRMATION)', () => {
  const insider = generateIdentity();
  const names = (k: Uint8Array) => siteNameOf(k) ?? (Buffer.from(k).equals(Buffer.from(insider.publicKey)) ? 'insider' : undefined);
  const c = new ClientHandshake({ identity: site, serverPublicKey: server.publicKey });
  const s = new ServerHandshake({ identity: server, siteNameOf: names, nonceCache: new NonceCache(300_000) });
  const hello = c.hello();
  const serverHello = s.onClientHello(hello);
  const auth = c.onServerHello(serverHello);
  // The insider saw every byte so far, so it can rebuild the transcript with its own key and sign it
  // validly; only the site's ephemeral secret (behind `confirm`) is out of its reach.
  const t = new Transcript();
  t.addClientHello(hello);
  t.addServerHelloBody(serverHello);
  t.addBytes(serverHello.signature);
  t.addBytes(insider.publicKey);
  const signature = nodePrimitives.sign(t.toSign('client'), insider.secretKey);
  assert.throws(() => s.onClientAuth({ ...auth, identity: insider.publicKey, signature }), { code: 'E_KEY_CONFIRMATION' });
});

test('reflection: a signature or a frame sent back to its author is refused (role labels, one key per direction)', () => {
  const { hello, serverHello, clientResult } = run();
  // the aggregator's transcript signature, offered back as a client signature over the same transcript
  const t = new Transcript();
  t.addClientHello(hello);
  t.addServerHelloBody(serverHello);
  assert.equal(nodePrimitives.verify(t.toSign('server'), serverHello.signature, server.publicKey), true);
  assert.equal(nodePrimitives.verify(t.toSign('client'), serverHello.signature, server.publicKey), false);
  // a site's frame reflected to the site is opened with the other direction's key
  const sealed = new FrameSealer(clientResult.keys.clientToServer).seal(new Uint8Array([1, 2, 3]));
  assert.throws(() => new FrameOpener(clientResult.keys.serverToClient).open(sealed), { code: 'E_FRAME_AUTH' });
});

test('a site clock far off is refused with which way and by how much, advice first, within a close reason (123 bytes)', () => {
  for (const [offsetMs, words] of [[3_600_000, 'site clock is 3600 s ahead of ours'], [-900_000, 'site clock is 900 s behind ours']] as const) {
    const c = new ClientHandshake({ identity: site, serverPublicKey: server.publicKey, now: () => Date.now() + offsetMs });
    const s = new ServerHandshake({ identity: server, siteNameOf, nonceCache: new NonceCache(300_000) });
    let message = '';
    assert.throws(() => s.onClientHello(c.hello()), (e: Error & { code?: string }) => { message = e.message; return e.code === 'E_HANDSHAKE_REPLAY'; });
    assert.match(message, new RegExp(`^${words} \\(allowed ±300 s\\): set clocks right \\(NTP\\), or a replayed handshake$`));
    assert.ok(Buffer.byteLength(`E_HANDSHAKE_REPLAY: ${message}`) <= 123, message);
  }
});
