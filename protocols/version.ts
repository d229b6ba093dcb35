// The wire protocol's version: a major that must match exactly, and a minor that only adds optional fields.

/** Major version: a peer with another major is refused (E_UNSUPPORTED_VERSION, close 4002). */
export const PROTOCOL_MAJOR = 1;
/** Minor version: v1.x peers interoperate; fields added in a newer minor are dropped by older readers. */
export const PROTOCOL_MINOR = 0;

/** The version every message carries as `v: [major, minor]`. */
export const PROTOCOL_VERSION: readonly [number, number] = Object.freeze([PROTOCOL_MAJOR, PROTOCOL_MINOR]) as readonly [number, number];

/** Domain-separation label mixed into every hash, signature and key derivation of this version. */
export const PROTOCOL_LABEL = 'fedistill/1';
