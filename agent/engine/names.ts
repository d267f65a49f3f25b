// File names as the file system has them, carried losslessly as JS strings.
//
// POSIX names are byte strings (any byte but "/" and NUL); Node turns bytes that are not UTF-8 into U+FFFD when it
// gives a name as a string, and a name that went through that can no longer be opened. The engine therefore
// carries every name as a string in which bytes that form valid UTF-8 are their characters and every other byte b
// (always 0x80-0xFF) is the lone surrogate U+DC00+b ("surrogateescape", as Python's PEP 383). Valid UTF-8 never
// decodes to a lone surrogate, so the mapping is lossless both ways, and a name that is valid UTF-8 (nearly all)
// is just its string. Snapshots store names this way (JSON writes a lone surrogate as "\udcff").
//
// Windows names are UTF-16 and may hold lone surrogates; libuv hands them to Node as WTF-8 bytes, which are not
// valid UTF-8, so those bytes are escaped like any other and handed back unchanged on restore (docs/design.md).
import { isUtf8 } from 'node:buffer';
import { dirname, join } from 'node:path';
import { escapeForTerminal } from '../../common/terminal-text.js';

const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** The string for a name (or path) given as bytes; lossless (see above). */
export function decodeName(bytes: Uint8Array): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(b)) return b.toString('utf8');
  const units: number[] = [];
  let out = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    let n = 0;
    let cp = 0;
    let min = 0;
    if (c < 0x80) {
      units.push(c);
      i++;
    } else {
      if (c >= 0xc2 && c <= 0xdf) [n, cp, min] = [1, c & 0x1f, 0x80];
      else if (c >= 0xe0 && c <= 0xef) [n, cp, min] = [2, c & 0x0f, 0x800];
      else if (c >= 0xf0 && c <= 0xf4) [n, cp, min] = [3, c & 0x07, 0x10000];
      let ok = n > 0 && i + n < b.length;
      for (let k = 1; ok && k <= n; k++) {
        const cont = b[i + k];
        if ((cont & 0xc0) !== 0x80) ok = false;
        else cp = (cp << 6) | (cont & 0x3f);
      }
      ok &&= cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
      if (ok) {
        if (cp >= 0x10000) units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
        else units.push(cp);
        i += n + 1;
      } else {
        units.push(0xdc00 + c);
        i++;
      }
    }
    if (units.length >= 4096) {
      out += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode(...units);
}

/** The bytes of a name (or path) string: the inverse of decodeName. */
export function encodeName(s: string): Buffer {
  if (wellFormed(s)) return Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(s.length * 3);
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u < 0x80) out[o++] = u;
    else if (u < 0x800) {
      out[o++] = 0xc0 | (u >> 6);
      out[o++] = 0x80 | (u & 0x3f);
    } else if (u >= 0xd800 && u <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const cp = 0x10000 + ((u - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[o++] = 0xf0 | (cp >> 18);
      out[o++] = 0x80 | ((cp >> 12) & 0x3f);
      out[o++] = 0x80 | ((cp >> 6) & 0x3f);
      out[o++] = 0x80 | (cp & 0x3f);
    } else if (u >= 0xdc80 && u <= 0xdcff)
      out[o++] = u - 0xdc00; // an escaped byte
    else {
      // Any other code unit, a lone surrogate included (WTF-8, which is what libuv turns back into it on Windows).
      out[o++] = 0xe0 | (u >> 12);
      out[o++] = 0x80 | ((u >> 6) & 0x3f);
      out[o++] = 0x80 | (u & 0x3f);
    }
  }
  return out.subarray(0, o);
}

/** What to hand the fs module for a path string: the string itself, or its bytes when it holds escaped bytes. */
export function fsPath(s: string): string | Buffer {
  return wellFormed(s) ? s : encodeName(s);
}

/** A name or path as it may be shown on a terminal: controls and non-UTF-8 bytes escaped (\n, \x1b, \xe9). */
export function showName(s: string): string {
  return escapeForTerminal(s, process.platform !== 'win32');
}

/**
 * A temporary name beside `dest` (in its folder): ".hf-" and `unique`, never the destination's name plus a suffix,
 * which would not fit beside a name of 255 bytes (the usual limit).
 */
export function temporaryBeside(dest: string, unique: string): string {
  return join(dirname(dest), `.hf-${unique}`);
}

/** Length in bytes of a name string as the file system stores it. */
export function nameByteLength(s: string): number {
  return wellFormed(s) ? Buffer.byteLength(s, 'utf8') : encodeName(s).length;
}
