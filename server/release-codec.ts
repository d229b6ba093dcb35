// A round's release as stored in the run database: msgpack bytes, decoded back to exactly what was sent.
import { pack, unpack } from 'msgpackr';
import type { RoundRelease } from './strategies/strategy.ts';

/** Releases are stored as msgpack (typed arrays as binary), to be re-sent verbatim after a crash. */
export function encodeRelease(r: RoundRelease, participants: string[]): Uint8Array {
  return pack({ ...r, indices: Buffer.from(r.indices.buffer, r.indices.byteOffset, r.indices.byteLength), labels: r.labels && Buffer.from(r.labels.buffer, r.labels.byteOffset, r.labels.byteLength), soft: r.soft && Buffer.from(r.soft.buffer, r.soft.byteOffset, r.soft.byteLength), participants });
}

/** The stored release, its typed arrays copied out of the payload (never views of a larger buffer). */
export function decodeRelease(b: Uint8Array): RoundRelease & { participants: string[] } {
  const o = unpack(b) as Record<string, any>;
  // a copy of exactly these bytes: unpack gives views into the payload (Buffer#slice is a view too),
  // whose .buffer is the whole payload, or a pooled slab holding other data
  const copy = (x: Uint8Array) => new Uint8Array(x).buffer;
  return {
    ...o,
    indices: new Uint32Array(copy(o.indices)),
    ...(o.labels ? { labels: new Int32Array(copy(o.labels)) } : { labels: undefined }),
    ...(o.soft ? { soft: new Float32Array(copy(o.soft)) } : { soft: undefined }),
  } as RoundRelease & { participants: string[] };
}
