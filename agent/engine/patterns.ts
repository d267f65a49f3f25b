// Include/exclude path patterns. Paths are compared in a portable form: forward slashes, "~" expanded.
// Globs: "*" any run within a name, "?" one character, "**" any number of whole names, "[...]" a class.
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';

export const caseInsensitivePaths = process.platform === 'win32' || process.platform === 'darwin';

/** Absolute, "/"-separated, "~" expanded, no trailing slash. */
export function portablePath(p: string, home = homedir()): string {
  let s = p;
  if (s === '~' || s.startsWith('~/') || s.startsWith('~\\')) s = home + s.slice(1);
  if (!isAbsolute(s) && !/^\*\*/.test(s)) s = resolve(s);
  s = s.replace(/\\/g, '/');
  if (s.length > 1 && s.endsWith('/') && !/^[A-Za-z]:\/$/.test(s)) s = s.slice(0, -1);
  return s;
}

function globSource(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const atEnd = i + 2 === glob.length || glob[i + 2] === '/';
        if (atStart && atEnd) {
          // "**/" matches zero or more whole names; a final "**" matches anything below.
          if (i + 2 === glob.length) re += '.*';
          else {
            re += '(?:.*/)?';
            i++;
          }
          i++;
          continue;
        }
      }
      re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, close).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return re;
}

export interface PathMatcher {
  pattern: string;
  /** Does the pattern select this path (portable form)? */
  matches(path: string): boolean;
}

/** A pattern starting with "**" matches anywhere; others are anchored paths ("~" and relative ones resolved). */
export function compilePattern(pattern: string): PathMatcher {
  let anchored = pattern.startsWith('**') ? pattern.replace(/\\/g, '/') : portablePath(pattern);
  // A pattern naming a folder also covers everything inside it, so "dir/**" selects "dir" itself too.
  if (anchored.endsWith('/**') && anchored.length > 3) anchored = anchored.slice(0, -3);
  const src = globSource(anchored);
  const re = new RegExp(`^${src}(?:/.*)?$`, caseInsensitivePaths ? 'i' : '');
  return { pattern, matches: (p) => re.test(p) };
}

/**
 * Many patterns, tested fast: an anchored pattern can only match a path that lies in (or is) its fixed leading
 * folder, so patterns are filed under that folder and a path tests only those filed under one of its ancestors, plus
 * the "**" ones. A fleet's per-user excludes are hundreds of patterns (defaults × profiles); each path meets a few.
 */
export class PatternSet {
  private readonly anywhere: PathMatcher[] = [];
  private readonly byPrefix = new Map<string, PathMatcher[]>();

  constructor(patterns: string[]) {
    for (const pattern of patterns) {
      const m = compilePattern(pattern);
      const prefix = literalPrefix(pattern);
      if (prefix === '' || prefix === '/') this.anywhere.push(m);
      else {
        const key = caseInsensitivePaths ? prefix.toLowerCase() : prefix;
        const list = this.byPrefix.get(key);
        if (list) list.push(m);
        else this.byPrefix.set(key, [m]);
      }
    }
  }

  /** A pattern that selects the path ("**" ones first, then by shallowest fixed folder), if any. */
  find(path: string): PathMatcher | undefined {
    const hit = (list: PathMatcher[] | undefined) => list?.find((m) => m.matches(path));
    let found = hit(this.anywhere);
    if (found || this.byPrefix.size === 0) return found;
    const key = caseInsensitivePaths ? path.toLowerCase() : path;
    for (let i = key.indexOf('/', 1); i > 0 && !found; i = key.indexOf('/', i + 1)) found = hit(this.byPrefix.get(key.slice(0, i)));
    return found ?? hit(this.byPrefix.get(key));
  }
}

export function compilePatterns(patterns: string[]): (path: string) => boolean {
  const set = new PatternSet(patterns);
  return (p) => set.find(p) !== undefined;
}

/** The fixed leading part of a pattern (before its first wildcard), as a portable path; '' if none. */
export function literalPrefix(pattern: string): string {
  if (pattern.startsWith('**')) return '';
  const p = portablePath(pattern);
  const w = p.search(/[*?[]/);
  if (w < 0) return p;
  const slash = p.lastIndexOf('/', w);
  return slash <= 0 ? '/' : p.slice(0, slash);
}

export function isSameOrInside(child: string, parent: string): boolean {
  const c = caseInsensitivePaths ? child.toLowerCase() : child;
  const p = caseInsensitivePaths ? parent.toLowerCase() : parent;
  return c === p || c.startsWith(p.endsWith('/') ? p : `${p}/`);
}
