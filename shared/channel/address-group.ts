// Groups peer addresses for per-address limits: an IPv4 address is its own group, an IPv6 address counts as its /64.
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The key per-address limits count under. One IPv6 host usually holds a whole /64 (and can pick
 * any address in it per connection), so IPv6 addresses are grouped by their first 64 bits;
 * IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what a dual-stack listener reports) is the IPv4 address.
 * Anything else (in-memory transports name themselves `memory:…`) is its own group.
 */
export function addressGroup(address: string): string {
  const bare = address.split('%')[0]!;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(bare)) return address;
  const words = ipv6Words(bare);
  return `${words.slice(0, 4).map((w) => w.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit words of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 as two words). */
function ipv6Words(address: string): number[] {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -dotted[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * Things open per address group, and in all: what the channel's per-address and overall caps
 * count (connections before the upgrade, handshakes in progress). A group at zero is forgotten.
 */
export class GroupCounts {
  private readonly perGroup = new Map<string, number>();
  /** Open in all groups. */
  total = 0;

  /** Open in `group` (an addressGroup key). */
  of(group: string): number {
    return this.perGroup.get(group) ?? 0;
  }

  add(group: string): void {
    this.perGroup.set(group, this.of(group) + 1);
    this.total++;
  }

  remove(group: string): void {
    const left = this.of(group) - 1;
    if (left > 0) this.perGroup.set(group, left);
    else this.perGroup.delete(group);
    this.total--;
  }
}
