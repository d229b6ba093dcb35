// Remembers recent handshake nonces so a recorded ClientHello cannot be replayed within the skew window.

/**
 * A set of nonces that forgets entries older than `windowMs` (timestamps outside the window are
 * refused anyway) and holds at most `maxEntries`: when full, the oldest are evicted, which only
 * weakens replay detection for handshakes that still could not complete without the site's key.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly windowMs: number, private readonly maxEntries = 200_000) {}

  /** Records a nonce; false if it was already seen within the window. */
  remember(nonce: Uint8Array, now: number): boolean {
    const id = Buffer.from(nonce).toString('base64');
    const at = this.seen.get(id);
    if (at !== undefined && now - at <= this.windowMs * 2) return false;
    this.seen.set(id, now);
    if (this.seen.size > this.maxEntries) this.evict(now);
    return true;
  }

  private evict(now: number): void {
    for (const [id, at] of this.seen) {
      if (now - at > this.windowMs * 2 || this.seen.size > this.maxEntries * 0.9) this.seen.delete(id);
      else break;
    }
  }
}
