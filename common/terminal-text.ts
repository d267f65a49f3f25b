// Text that came from somewhere else (a device's host name, a platform string, a file name) on its way to a terminal:
// control characters would move the cursor, start escape sequences (ANSI/OSC: colours, titles, hyperlinks,
// clipboard writes), break lines to forge output, or reorder what is shown (bidi overrides). They are shown as
// visible escapes instead; everything else, any script, passes unchanged.

/** C0 controls, DEL, C1 controls, bidi embedding/override/isolate marks, line and paragraph separators. */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSAFE_OR_BACKSLASH = new RegExp(`${UNSAFE.source}|\\\\`, 'g');
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

/** True when `s` holds a character escapeForTerminal would escape (not counting backslashes). */
export function hasUnsafeText(s: string): boolean {
  return UNSAFE.test(s);
}

/**
 * `s` with each unsafe character as a visible escape: \n \r \t, \x1b for other C0/C1 controls and DEL, \u{202e}
 * for bidi marks, separators and lone surrogates, except that a lone U+DC80–U+DCFF, which is how the agent carries
 * a byte of a file name that is not UTF-8 (agent/engine/names.ts), shows as that byte (\xe9). A backslash becomes
 * \\ so the escapes stay unambiguous, unless `doubleBackslash` is false (Windows paths, messages that quote them).
 */
export function escapeForTerminal(s: string, doubleBackslash = true): string {
  return s.replace(doubleBackslash ? UNSAFE_OR_BACKSLASH : UNSAFE_ALL, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    if (code >= 0xdc80 && code <= 0xdcff) return `\\x${(code - 0xdc00).toString(16)}`;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
