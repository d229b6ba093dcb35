// Makes text that a peer controls safe to write into an operator's log: one line, no terminal escapes.

/**
 * C0 and C1 control characters, DEL, and the Unicode line/paragraph separators and bidi
 * overrides: each could end a log line early, forge a new one, drive the operator's terminal
 * (ESC sequences) or reorder what the operator reads.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control character escaped (`\n`, `\r`, `\t`, otherwise `\u001b`-style), so a
 * site's error message or close reason stays on its log line and cannot forge lines or colours.
 * A backslash is left as it is: the escapes are for a reader, not for decoding.
 */
export function escapeControlChars(text: string): string {
  return text.replace(UNSAFE, (ch) => NAMED[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
