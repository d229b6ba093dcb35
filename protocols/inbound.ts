// The inbound path of one session payload: decrypted bytes in, a validated message (or a catalogue error) out.
import { ChannelError } from './error-catalogue.ts';
import { decodeMessage } from './codec.ts';
import { messageSizeLimit, type ConnectionLimits } from './limits.ts';
import type { SessionMessage } from './messages.ts';
import { scanMessageShape } from './msgpack-shape.ts';
import { validateSessionMessage } from './validators.ts';

/**
 * Scans, size-checks, decodes and validates one decrypted session payload; throws ChannelError
 * with the code the session closes with. Cheap checks come first, so a hostile peer pays for its
 * own refusal: the shape scan (bounded work, E_MSG_TOO_COMPLEX), with the size limit of the type
 * the payload claims applied as soon as the scan reads it (a `type` absent or not a string gets the
 * 4 KiB default, after the scan), and only then msgpackr.
 * Kept apart from SecureSession so that tests and bench/hostile-decode.ts run exactly this, with no socket.
 */
export function readSessionPayload(plaintext: Uint8Array, limits: Pick<ConnectionLimits, 'maxFrameBytes'>): SessionMessage {
  const shape = scanMessageShape(plaintext, undefined, (type) => checkSize(type ?? '', plaintext.length, limits));
  checkSize(shape.type ?? '', plaintext.length, limits);
  const message = validateSessionMessage(decodeMessage(plaintext, shape));
  // the validator read the same top-level `type` the scan did; checked again so that stays true
  checkSize(message.type, plaintext.length, limits);
  return message;
}

function checkSize(type: string, length: number, limits: Pick<ConnectionLimits, 'maxFrameBytes'>): void {
  const limit = messageSizeLimit(type, limits);
  if (length > limit) throw new ChannelError('E_MSG_TOO_LARGE', `${type.slice(0, 40) || 'a message without a type'} of ${length} bytes exceeds its limit of ${limit}`);
}
