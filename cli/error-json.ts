// The one JSON object a --json command prints when it fails or is interrupted.
/** The JSON a script gets on failure: a stable code (E_INTERNAL for a bug) and the exit status. */
export function errorJson(path: string, code: string, message: string, exitCode: number): string {
  return JSON.stringify({ ok: false, command: path, exit_code: exitCode, error: { code, message } });
}
