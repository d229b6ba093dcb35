// One error type for every failure a user can cause: a stable code, a message that says what to do.

/** Exit code for user errors (bad input, missing file, refused operation). */
export const EXIT_FAILURE = 1;
/** Exit code for usage errors (unknown command or flag, invalid parameter). */
const EXIT_USAGE = 2;

/**
 * An error a user can cause and fix. `code` is stable (documented in docs/errors.md and
 * asserted in tests); the message is one line that says what went wrong and what to do.
 * The CLI prints these without a stack trace.
 */
export class FedistillError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FedistillError';
    this.code = code;
    this.exitCode = options.exitCode ?? EXIT_FAILURE;
  }
}

/** A usage error: the command line or a parameter is wrong. Exit code 2. */
export class UsageError extends FedistillError {
  constructor(message: string, code = 'E_USAGE') {
    super(code, message, { exitCode: EXIT_USAGE });
    this.name = 'UsageError';
  }
}

/** Throws a usage error naming `field` unless `ok`. Used by constructors and config validators. */
export function check(ok: boolean, field: string, why: string, code = 'E_INVALID_PARAMETER'): asserts ok {
  if (!ok) throw new UsageError(`${field}: ${why}`, code);
}
