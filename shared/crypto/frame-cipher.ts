// AEAD frames: ChaCha20-Poly1305 (node:crypto) with a per-direction counter as the nonce.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ChannelError } from '../../protocols/error-catalogue.ts';

/**
 * Frame layout: kind (1 byte, 0x01 = data) ‖ counter (8 bytes, big-endian) ‖ ciphertext ‖ tag (16).
 * The 9-byte header is the AEAD's associated data; the nonce is 4 zero bytes ‖ the counter. Each
 * direction has its own key, so a counter never repeats under one key. The counter travels in
 * clear only so that a receiver can say *why* a frame is refused (replayed vs. skipped); it is
 * authenticated, and a frame is accepted only when it equals the next expected value.
 *
 * ChaCha20-Poly1305 rather than tweetnacl's secretbox: the same security level, but native
 * (about 20× faster: bench/channel.ts, `aead_seal_open_mb_s`); rather than AES-256-GCM:
 * constant-time without AES-NI, so no machine is slow or leaky by surprise.
 */
const FRAME_KIND_DATA = 0x01;
const FRAME_HEADER_BYTES = 9;
const FRAME_TAG_BYTES = 16;
export const FRAME_OVERHEAD = FRAME_HEADER_BYTES + FRAME_TAG_BYTES;
const ALGORITHM = 'chacha20-poly1305';
/** 2^53: far beyond any session's life; a session that reaches it must end rather than wrap. */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

function writeHeader(target: Buffer, counter: number): void {
  target[0] = FRAME_KIND_DATA;
  target.writeUInt32BE(Math.floor(counter / 2 ** 32), 1);
  target.writeUInt32BE(counter >>> 0, 5);
}

function nonceFor(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(Math.floor(counter / 2 ** 32), 4);
  n.writeUInt32BE(counter >>> 0, 8);
  return n;
}

/** Encrypts outgoing frames for one direction. */
export class FrameSealer {
  private counter = 0;
  constructor(private readonly key: Buffer) {}

  seal(plaintext: Uint8Array): Buffer {
    if (this.counter >= MAX_COUNTER) throw new ChannelError('E_PROTOCOL', 'frame counter exhausted; open a new session');
    const frame = Buffer.allocUnsafe(FRAME_OVERHEAD + plaintext.length);
    writeHeader(frame, this.counter);
    const cipher = createCipheriv(ALGORITHM, this.key, nonceFor(this.counter), { authTagLength: FRAME_TAG_BYTES });
    cipher.setAAD(frame.subarray(0, FRAME_HEADER_BYTES), { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    body.copy(frame, FRAME_HEADER_BYTES);
    cipher.final();
    cipher.getAuthTag().copy(frame, FRAME_HEADER_BYTES + plaintext.length);
    this.counter++;
    return frame;
  }

  get framesSealed(): number {
    return this.counter;
  }
}

/** Decrypts incoming frames for one direction; every refusal is a ChannelError naming its close code. */
export class FrameOpener {
  private expected = 0;
  constructor(private readonly key: Buffer) {}

  open(frame: Uint8Array): Buffer {
    if (frame.length < FRAME_OVERHEAD || frame[0] !== FRAME_KIND_DATA) {
      throw new ChannelError('E_FRAME_MALFORMED', `frame of ${frame.length} bytes with kind ${frame[0] ?? 'none'}; expected kind 1 and at least ${FRAME_OVERHEAD} bytes`);
    }
    const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    const counter = buf.readUInt32BE(1) * 2 ** 32 + buf.readUInt32BE(5);
    if (counter < this.expected) throw new ChannelError('E_FRAME_REPLAYED', `frame counter ${counter} was already received (expected ${this.expected})`);
    if (counter > this.expected) throw new ChannelError('E_FRAME_OUT_OF_ORDER', `frame counter ${counter} skips ahead of ${this.expected}: frames were reordered or dropped`);
    const end = buf.length - FRAME_TAG_BYTES;
    const decipher = createDecipheriv(ALGORITHM, this.key, nonceFor(counter), { authTagLength: FRAME_TAG_BYTES });
    decipher.setAAD(buf.subarray(0, FRAME_HEADER_BYTES), { plaintextLength: end - FRAME_HEADER_BYTES });
    decipher.setAuthTag(buf.subarray(end));
    const plaintext = decipher.update(buf.subarray(FRAME_HEADER_BYTES, end));
    try {
      decipher.final();
    } catch {
      throw new ChannelError('E_FRAME_AUTH', `frame ${counter} failed authentication: altered in transit or sealed with another key`);
    }
    this.expected++;
    return plaintext;
  }
}
