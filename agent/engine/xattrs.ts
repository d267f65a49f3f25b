// Extended attributes (Linux): Node has no xattr API and a native addon does not fit the one-file agent, so the
// attr package's tools do it: one `getfattr -R` for all backup roots (started beside the walk) and one
// `setfattr --restore` per restore, both in getfattr's dump format. Without the tools (or on another system) no
// attributes are recorded and the result says so (docs/engine.md, "Extended attributes").
//
// Dump format: "# file: PATH", then "NAME=VALUE" lines, then a blank line. In PATH and NAME getfattr writes "\",
// newline, CR (and "=" in NAME) as "\ooo" octal escapes and every other byte as it is; setfattr reads any "\ooo".
import { spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { escapeForTerminal } from '../../common/terminal-text.js';
import { decodeName, encodeName, showName } from './names.js';

/** Extended attributes of one entry: name (string form of names.ts) → value (base64), names sorted. */
export type Xattrs = Record<string, string>;

export const XATTR_INSTALL_HINT = 'apt-get install -y attr (Debian/Ubuntu), dnf install attr (Fedora/RHEL)';

/** What a backup read: attributes per path (the walk's `source` form), and what went wrong. */
export interface XattrReading {
  /** The tool that read them, or null when there was none (nothing recorded). */
  tool: string | null;
  byPath: Map<string, Xattrs>;
  /** Problems that kept attributes from being read (not one per unreadable file: the walk reports those). */
  warnings: string[];
}

/** Names a restore as a user other than root cannot set (only root may): they are skipped, and reported. */
export function needsRoot(name: string): boolean {
  return !name.startsWith('user.') && !name.startsWith('system.posix_acl_');
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** Run a tool: its stdout, stderr and exit code; null when it is not installed. */
function run(cmd: string, args: string[], input?: Buffer): Promise<{ out: Buffer; err: Buffer; code: number } | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? resolve(null) : reject(e)));
    child.on('close', (code) => resolve({ out: Buffer.concat(out), err: Buffer.concat(err), code: code ?? 1 }));
    if (input) child.stdin?.end(input);
  });
}

const firstLine = (b: Buffer): string => escapeForTerminal(b.toString('utf8').trim().split('\n')[0] || 'no message', false);

/** "\ooo" escapes turned back into bytes. */
function unescapeDump(b: Buffer): Buffer {
  if (!b.includes(0x5c)) return b;
  const out = Buffer.allocUnsafe(b.length);
  let o = 0;
  for (let i = 0; i < b.length; i++) {
    const d = (k: number) => b[i + k] - 0x30;
    if (b[i] === 0x5c && i + 3 < b.length && [1, 2, 3].every((k) => d(k) >= 0 && d(k) <= 7)) {
      out[o++] = (d(1) << 6) | (d(2) << 3) | d(3);
      i += 3;
    } else out[o++] = b[i];
  }
  return out.subarray(0, o);
}

/** Bytes escaped for the dump format: controls, space, "\", "=", DEL (more than getfattr escapes; setfattr reads all). */
function escapeDump(b: Buffer): string {
  let s = '';
  for (const c of b) s += c <= 0x20 || c === 0x5c || c === 0x3d || c === 0x7f ? `\\${c.toString(8).padStart(3, '0')}` : String.fromCharCode(c);
  return s;
}

/** A value as getfattr printed it: 0s base64, 0x hex, or "quoted text". */
function valueBase64(v: string): string {
  if (v.startsWith('0s')) return v.slice(2);
  if (v.startsWith('0x')) return Buffer.from(v.slice(2), 'hex').toString('base64');
  if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) return unescapeDump(Buffer.from(v.slice(1, -1), 'latin1')).toString('base64');
  return '';
}

/** Parse getfattr's dump (bytes as it wrote them). */
export function parseDump(dump: Buffer): Map<string, Xattrs> {
  const byPath = new Map<string, Xattrs>();
  let current: Array<[string, string]> | undefined;
  let path = '';
  const finish = () => {
    if (current?.length) byPath.set(path, Object.fromEntries(current.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
    current = undefined;
  };
  let start = 0;
  while (start < dump.length) {
    let end = dump.indexOf(0x0a, start);
    if (end < 0) end = dump.length;
    const line = dump.subarray(start, end);
    start = end + 1;
    if (line.length === 0) {
      finish();
      continue;
    }
    if (line.subarray(0, 8).toString('latin1') === '# file: ') {
      finish();
      path = decodeName(unescapeDump(line.subarray(8)));
      current = [];
      continue;
    }
    if (!current || line[0] === 0x23) continue;
    const eq = line.indexOf(0x3d);
    const name = decodeName(unescapeDump(eq < 0 ? line : line.subarray(0, eq)));
    current.push([name, eq < 0 ? '' : valueBase64(line.subarray(eq + 1).toString('latin1'))]);
  }
  finish();
  return byPath;
}

/** Read the extended attributes of everything below `roots` (absolute paths, the walk's form); never throws. */
export async function readXattrs(roots: string[]): Promise<XattrReading> {
  const none = (warnings: string[] = []): XattrReading => ({ tool: null, byPath: new Map(), warnings });
  if (process.platform !== 'linux' || roots.length === 0) return none();
  // Arguments are strings: a root whose path is not UTF-8 (rare: a profile folder) is left out, with a warning.
  const usable = roots.filter((r) => encodeName(r).equals(Buffer.from(r, 'utf8')));
  const warnings = roots.filter((r) => !usable.includes(r)).map((r) => `${showName(r)}: extended attributes not read (the path is not UTF-8)`);
  try {
    const r = await run('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', ...usable]);
    if (!r) return none(warnings);
    // "getfattr: PATH: REASON" lines are paths it could not read (the walk reports those); anything else is a failure.
    const other = r.err
      .toString('latin1')
      .split('\n')
      .filter((l) => l !== '' && !/^getfattr: .+: [^:]+$/.test(l));
    if (r.code !== 0 && other.length > 0) warnings.push(`extended attributes not read: ${firstLine(Buffer.from(other[0], 'latin1'))}`);
    return { tool: 'getfattr', byPath: parseDump(r.out), warnings };
  } catch (err) {
    return none([...warnings, `extended attributes not read: ${(err as Error).message}`]);
  }
}

/** One restored entry's attributes to set; `writable` when the restoring user may need owner write access first. */
export interface XattrTarget {
  path: string;
  xattrs: Xattrs;
  /** The entry's mode as restored (files: to lend owner write access for the moment of setting them). */
  mode?: number;
}

/** Attributes that were not restored: the entry, the names, why. */
export interface XattrSkip {
  path: string;
  names: string[];
  reason: string;
}

/**
 * Set the attributes of restored entries (symlinks themselves, never their targets). Names only root may set are
 * skipped for other users; what could not be set is returned, never thrown: the files themselves are in place.
 */
export async function writeXattrs(targets: XattrTarget[]): Promise<XattrSkip[]> {
  const skipped: XattrSkip[] = [];
  const todo = targets.filter((t) => Object.keys(t.xattrs).length > 0);
  if (todo.length === 0) return skipped;
  if (process.platform !== 'linux') {
    for (const t of todo) skipped.push({ path: t.path, names: Object.keys(t.xattrs), reason: `not restored on ${process.platform}` });
    return skipped;
  }
  const root = isRoot();
  const lines: string[] = [];
  const lent: Array<{ path: Buffer; mode: number }> = [];
  for (const t of todo) {
    const names = Object.keys(t.xattrs);
    const allowed = root ? names : names.filter((n) => !needsRoot(n));
    if (allowed.length < names.length) skipped.push({ path: t.path, names: names.filter((n) => !allowed.includes(n)), reason: 'only root may set them' });
    if (allowed.length === 0) continue;
    const p = encodeName(t.path);
    // A user sets user.* attributes only on what it may write: a read-only file gets owner write for the moment.
    if (!root && t.mode !== undefined && (t.mode & 0o200) === 0) lent.push({ path: p, mode: t.mode & 0o7777 });
    lines.push(`# file: ${escapeDump(p)}`);
    for (const n of allowed) lines.push(`${escapeDump(encodeName(n))}=0s${t.xattrs[n]}`);
    lines.push('');
  }
  if (lines.length === 0) return skipped;
  for (const l of lent) chmodSync(l.path, l.mode | 0o200);
  try {
    const r = await run('setfattr', ['-h', '--restore=-'], Buffer.from(`${lines.join('\n')}\n`, 'latin1'));
    if (!r) {
      for (const t of todo) skipped.push({ path: t.path, names: Object.keys(t.xattrs), reason: `setfattr is not installed (${XATTR_INSTALL_HINT})` });
      return skipped;
    }
    // "setfattr: PATH: REASON" per attribute that failed; PATH escaped as in the dump (bytes read as latin1).
    const byTarget = new Map(todo.map((t) => [encodeName(t.path).toString('latin1'), t]));
    const seen = new Set<string>();
    for (const line of r.err.toString('latin1').split('\n')) {
      const m = /^setfattr: (.*): ([^:]+)$/.exec(line);
      const t = m && byTarget.get(unescapeDump(Buffer.from(m[1], 'latin1')).toString('latin1'));
      if (!m || !t || seen.has(t.path)) continue;
      seen.add(t.path);
      skipped.push({ path: t.path, names: Object.keys(t.xattrs).filter((n) => root || !needsRoot(n)), reason: m[2] });
    }
    if (r.code !== 0 && seen.size === 0) skipped.push({ path: todo[0].path, names: [], reason: `setfattr failed: ${firstLine(r.err)}` });
  } finally {
    for (const l of lent) chmodSync(l.path, l.mode);
  }
  return skipped;
}
