// Shared fixtures for channel tests: identities, an allowlisted server on loopback, a client factory.
import { Allowlist } from '../../../shared/crypto/allowlist.ts';
import { generateIdentity, type Identity } from '../../../shared/crypto/identity.ts';
import { SecureClient, type SecureClientOptions } from '../../../shared/channel/secure-client.ts';
import { SecureServer, type SecureServerOptions } from '../../../shared/channel/secure-server.ts';
import type { SecureSession, SessionCloseInfo } from '../../../shared/channel/secure-session.ts';

export const serverIdentity: Identity = generateIdentity();
export const siteA: Identity = generateIdentity();
export const siteB: Identity = generateIdentity();
export const stranger: Identity = generateIdentity();
export const allowlist = new Allowlist([[siteA.publicKey, 'site-a'], [siteB.publicKey, 'site-b']]);

/** A listening server on 127.0.0.1 with short timeouts suitable for tests. */
export async function startServer(extra: Partial<SecureServerOptions> = {}): Promise<SecureServer> {
  return new SecureServer({ identity: serverIdentity, allowlist, port: 0, handshakesPerSecondPerAddress: Infinity, ...extra }).listen();
}

export function clientFor(server: SecureServer, identity: Identity, extra: Partial<SecureClientOptions> = {}): SecureClient {
  return new SecureClient({ url: server.url, identity, serverPublicKey: serverIdentity.publicKey, reconnect: false, ...extra });
}

/** Resolves with the next session the server accepts. */
export function nextSession(server: SecureServer): Promise<SecureSession> {
  return new Promise((resolve) => server.once('session', resolve));
}

/** Resolves with a session's close info. */
export function closed(session: { once(e: 'close', f: (i: SessionCloseInfo) => void): unknown }): Promise<SessionCloseInfo> {
  return new Promise((resolve) => session.once('close', resolve));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
