// Names from outside (file names, link targets) made safe and unambiguous to print on a terminal or in a log line:
// control characters (C0, DEL, C1), line and paragraph separators, bidirectional controls and lone surrogates
// (bytes of a file name that are not UTF-8, agent/engine/names.ts) become C-style escapes, so a name can neither
// move the cursor, recolour the screen, forge a line nor hide what it is. The JSON outputs escape on their own.

const NEEDS_ESCAPE = /[\0-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\\]/u;
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/**
 * `s` with everything invisible or dangerous escaped: `\n` `\r` `\t`, `\xHH` for other C0 controls, DEL and a file
 * name's non-UTF-8 byte HH, `\uHHHH` for C1 controls, separators, bidi controls and other lone surrogates.
 * A backslash doubles when `backslash` is true (the default off Windows, where it is an ordinary character in
 * names; on Windows it is the path separator and stays as it is).
 */
export function visible(s: string, backslash = process.platform !== 'win32'): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (const ch of s) {
    const u = ch.codePointAt(0)!;
    if (ch === '\\') out += backslash ? '\\\\' : '\\';
    else if (ch.length === 2 || !NEEDS_ESCAPE.test(ch)) out += ch;
    else if (SHORT[ch]) out += SHORT[ch];
    else if (u < 0x20 || u === 0x7f) out += `\\x${u.toString(16).padStart(2, '0')}`;
    else if (u >= 0xdc80 && u <= 0xdcff) out += `\\x${(u - 0xdc00).toString(16)}`;
    else out += `\\u${u.toString(16).padStart(4, '0')}`;
  }
  return out;
}
