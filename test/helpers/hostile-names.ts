// A folder of file names of every kind a macOS or Linux user can have: each name as bytes, created through Buffer
// paths so nothing is normalised or replaced on the way. Modes vary; mtimes are random to the nanosecond (set
// with coreutils touch: Node's utimes keeps only microseconds).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');
const raw = (...parts: Array<string | number[]>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? b(p) : Buffer.from(p))));

/** A name as a readable label for messages: UTF-8 as it is, control characters and other bytes as \xHH. */
export function label(name: Buffer): string {
  return [...name].map((c) => (c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
}

/** File names (one file each, at the top level). */
export const hostileFileNames: Buffer[] = [
  b('back\\slash.txt'),
  b('\\'),
  b('C:\\Windows\\evil.txt'),
  b(`${'L'.repeat(251)}.txt`), // 255 bytes
  b(`${'é'.repeat(127)}x`), // 255 bytes, two-byte characters
  b(`${'😀'.repeat(63)}abc`), // 255 bytes, four-byte characters
  raw('latin1-caf', [0xe9], '.txt'),
  raw([0xff, 0xfe]),
  raw('overlong-slash-', [0xc0, 0xaf]),
  raw('wtf8-lone-surrogate-', [0xed, 0xa0, 0x80]),
  raw('truncated-', [0xe2, 0x82]),
  raw('escape-like-', [0xdc, 0x80], '-and-', [0xed, 0xb2, 0x80]),
  b('line\nbreak'),
  b('tab\there'),
  b('cr\rname'),
  b('esc\x1b[31mred\x1b[0m'),
  b('osc\x1b]0;title\x07'),
  b('bell\x07del\x7f'),
  b('c1-\u009b2J'),
  b('-rf'),
  b('--help'),
  b('-'),
  b('..a'),
  b('a..'),
  b('...'),
  b('.hidden'),
  b('. '),
  b(' leading and trailing space '),
  b('caf\u00e9-nfc'),
  b('cafe\u0301-nfc'), // the same word decomposed (NFD): a different name on Linux
  b('\u202eevil.txt'),
  b('zero\u200bwidth'),
  b('quote"\'`$(x)*?[a]{b}'),
  b('ünï©ødé ✓'),
];

export interface HostileTree {
  /** Every name created, as a readable label (for the report). */
  names: string[];
}

/** Make the tree in `root` (which must not exist). */
export function makeHostileTree(root: string): HostileTree {
  const names: string[] = [];
  const R = b(root);
  const at = (...parts: Buffer[]): Buffer => Buffer.concat([R, ...parts.flatMap((p) => [b('/'), p])]);
  mkdirSync(root, { recursive: true });
  hostileFileNames.forEach((name, i) => {
    writeFileSync(at(name), Buffer.concat([b(`file ${i}: `), randomBytes(64 + i * 97)]));
    names.push(label(name));
  });
  chmodSync(at(hostileFileNames[0]), 0o600);
  chmodSync(at(b('-rf')), 0o755);
  chmodSync(at(b('..a')), 0o4755);

  // Folders with such names, files inside them, a 255-byte folder holding a 255-byte name.
  const dirs: Buffer[] = [b('dir\\with\\backslashes'), raw('dir-', [0x80, 0x81]), b('D'.repeat(255)), b('..dir'), b('new\nline dir')];
  for (const d of dirs) {
    mkdirSync(at(d));
    writeFileSync(at(d, b('inner.txt')), `inside ${label(d)}\n`);
    names.push(`${label(d)}/`);
  }
  writeFileSync(at(dirs[2], b('N'.repeat(255))), 'deep long name\n');
  writeFileSync(at(dirs[1], raw('inner-', [0xc3, 0x28])), 'invalid two-byte sequence\n');
  chmodSync(at(dirs[3]), 0o1777);
  names.push(`${'D'.repeat(8)}…/${'N'.repeat(8)}… (255 + 255 bytes)`);

  // Symlinks: names and targets that are not UTF-8, a 255-byte link name, a target with a backslash.
  const links: Array<[Buffer, Buffer]> = [
    [raw('link-', [0xfa]), raw('target-', [0xfb], '/..', [0xfc])],
    [b('S'.repeat(255)), b('back\\slash.txt')],
    [b('link\nnewline'), b('line\nbreak')],
  ];
  for (const [name, target] of links) {
    symlinkSync(target, at(name));
    names.push(`${label(name)} -> ${label(target)}`);
  }
  const files = [
    ...hostileFileNames.map((n) => at(n)),
    ...dirs.map((d) => at(d, b('inner.txt'))),
    at(dirs[2], b('N'.repeat(255))),
    at(dirs[1], raw('inner-', [0xc3, 0x28])),
  ];
  randomNanosecondTimes([...files, ...dirs.map((d) => at(d))], `${root}.times.sh`);
  return { names };
}

/**
 * Random modification times, to the nanosecond, for these paths (files and folders; give folders after what is
 * inside them). Uses coreutils touch from one shell script, written as bytes so that any name reaches it intact.
 */
export function randomNanosecondTimes(paths: Buffer[], scriptFile: string): void {
  const quote = (p: Buffer): Buffer => Buffer.concat([b("'"), Buffer.from(p.toString('latin1').replace(/'/g, "'\\''"), 'latin1'), b("'")]);
  const lines = paths.map((p) => {
    const sec = 1_000_000_000 + Math.floor(Math.random() * 800_000_000);
    const nsec = String(Math.floor(Math.random() * 1e9)).padStart(9, '0');
    return Buffer.concat([b(`touch -d @${sec}.${nsec} -- `), quote(p), b('\n')]);
  });
  writeFileSync(scriptFile, Buffer.concat(lines));
  execFileSync('sh', [scriptFile]);
}
