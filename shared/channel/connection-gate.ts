// Admission of raw TCP connections to the aggregator's listener: caps on open connections, and a deadline to the websocket upgrade.
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { addressGroup, GroupCounts } from './address-group.ts';

export interface ConnectionGateOptions {
  /** Open connections per address group (addressGroup: IPv6 by /64). Infinity: no cap. */
  maxPerAddress: number;
  /** Open connections in all. Infinity: no cap. */
  maxTotal: number;
  /** From accept to the websocket upgrade, whatever the peer sends meanwhile. */
  upgradeDeadlineMs: number;
  /** Told of each connection the gate closes: why, in a catalogue code, and the peer's address. */
  onRefused: (code: 'E_TOO_MANY_CONNECTIONS' | 'E_HANDSHAKE_TIMEOUT', address: string, message: string) => void;
}

/**
 * Every connection is counted from the server's 'connection' event until it closes, upgraded or
 * not, so neither a crowd of half-sent HTTP requests nor of websockets can take every socket the
 * process may open. A connection over a cap is destroyed before a byte is read. Until `upgraded`
 * is called for it, a connection also has an absolute deadline: unlike socket.setTimeout, which
 * any byte resets, a peer dribbling its request one byte at a time is cut when it expires.
 * Connections are keyed by remote address and port, so that the upgrade of a TLS socket finds the
 * TCP connection under it.
 */
export class ConnectionGate {
  private readonly open = new GroupCounts();
  private readonly awaitingUpgrade = new Map<string, NodeJS.Timeout>();

  constructor(private readonly opts: ConnectionGateOptions) {}

  /** Starts admitting the connections `server` accepts (for https, the TCP connections under TLS). */
  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  /** Open connections (all, or from one address group): for tests and status. */
  openConnections(address?: string): number {
    return address === undefined ? this.open.total : this.open.of(addressGroup(address));
  }

  /** The websocket upgrade of `socket` (the TCP socket or the TLS socket over it) completed: its deadline no longer applies. */
  upgraded(socket: Socket): void {
    const key = keyOf(socket);
    clearTimeout(this.awaitingUpgrade.get(key));
    this.awaitingUpgrade.delete(key);
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress;
    if (address === undefined) return void socket.destroy(); // already gone
    const group = addressGroup(address);
    const fromGroup = this.open.of(group);
    if (fromGroup >= this.opts.maxPerAddress || this.open.total >= this.opts.maxTotal) {
      socket.destroy();
      const which = fromGroup >= this.opts.maxPerAddress ? 'from this address (maxConnectionsPerAddress)' : 'in all (maxConnections)';
      this.opts.onRefused('E_TOO_MANY_CONNECTIONS', address, `too many open connections ${which}; the new one was closed before any HTTP`);
      return;
    }
    this.open.add(group);
    const key = keyOf(socket);
    const deadline = setTimeout(() => {
      this.awaitingUpgrade.delete(key);
      socket.destroy();
      this.opts.onRefused('E_HANDSHAKE_TIMEOUT', address, `no websocket upgrade within ${this.opts.upgradeDeadlineMs} ms of connecting`);
    }, this.opts.upgradeDeadlineMs);
    deadline.unref();
    this.awaitingUpgrade.set(key, deadline);
    socket.once('close', () => {
      clearTimeout(deadline);
      if (this.awaitingUpgrade.get(key) === deadline) this.awaitingUpgrade.delete(key);
      this.open.remove(group);
    });
  }
}

/** One TCP connection on one listener: the peer's address and port (a TLS socket reports its TCP socket's). */
function keyOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
