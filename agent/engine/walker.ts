// Walk the selected folders: what to back up, with the stat data the change cache compares.
// Names are read as the file system has them: a folder whose names are not all UTF-8 is read again as bytes and its
// names carried in the engine's lossless string form (names.ts). Times are Node's plain stat doubles here; entries
// that go into a snapshot as new get their exact time later (times.ts).
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { basename, resolve, sep } from 'node:path';
import { decodeName, fsPath, showName } from './names.js';
import { type SkippedPath, skipReason } from './skipped.js';

export type EntryType = 'file' | 'dir' | 'symlink';

export interface WalkEntry {
  /** Snapshot path: "<root name>/<relative path>", "/"-separated (names in the form of names.ts). */
  path: string;
  /** Path on this machine (same form: hand it to fs through fsPath()). */
  source: string;
  type: EntryType;
  mode: number;
  /** Modification and change times as Node's plain stat gives them (what the change cache compares). */
  mtimeMs: number;
  ctimeMs: number;
  size: number;
  ino: number;
  /** Owner and group (0 on Windows, where they are not restored). */
  uid: number;
  gid: number;
  /** A file with more than one name: "dev:ino", the same for every name of it (restored as hard links). */
  hardLink?: string;
  /** A file that takes fewer blocks than its size (it has holes): restored with holes. */
  sparse?: true;
  linkTarget?: string;
  /** Extended attributes (set by the backup from xattrs.ts, not by the walk). */
  xattrs?: Record<string, string>;
}

export interface WalkRoot {
  /** Unique name of the root inside snapshots (its folder name). */
  name: string;
  /** The folder on this machine. */
  path: string;
}

export interface WalkResult {
  roots: WalkRoot[];
  entries: WalkEntry[];
  /** Paths that could not be read (reported, not fatal). */
  warnings: string[];
  /** The same paths with their reason (agent/engine/skipped.ts). */
  skipped: SkippedPath[];
}

/** A folder to back up: its path, or its path and the name it should have inside snapshots. */
export type RootSpec = string | { path: string; name: string };

/** Give each root a unique snapshot name (the given name, else its folder name; numbered on clashes). */
export function nameRoots(specs: RootSpec[]): WalkRoot[] {
  const used = new Set<string>();
  return specs.map((spec) => {
    const p = typeof spec === 'string' ? spec : spec.path;
    const base = typeof spec === 'string' ? basename(p.replace(/[\\/]+$/, '')) || 'root' : spec.name;
    let name = base.replace(/:/g, '');
    for (let i = 2; used.has(name.toLowerCase()); i++) name = `${base}-${i}`;
    used.add(name.toLowerCase());
    return { name, path: p };
  });
}

function entryOf(path: string, source: string, st: Stats): WalkEntry | undefined {
  const type: EntryType | undefined = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : undefined;
  if (!type) return undefined; // sockets, devices, fifos: not backed up
  const e: WalkEntry = {
    path,
    source,
    type,
    mode: st.mode & 0o7777,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    size: type === 'file' ? st.size : 0,
    ino: st.ino,
    uid: st.uid,
    gid: st.gid,
  };
  if (type === 'file') {
    if (st.nlink > 1) e.hardLink = `${st.dev}:${st.ino}`;
    // Windows reports no blocks (0): never sparse there.
    if (st.blocks > 0 && st.blocks * 512 < st.size) e.sparse = true;
  }
  if (type === 'symlink') e.linkTarget = decodeName(readlinkSync(fsPath(source), { encoding: 'buffer' }));
  return e;
}

/** Names in a folder, in the engine's string form; one read as strings unless a name did not survive it. */
function readNames(dir: string): string[] {
  const path = fsPath(dir);
  const names = readdirSync(path);
  // Node turns bytes that are not UTF-8 into U+FFFD: such a folder is read again as bytes.
  if (!names.some((n) => n.includes('\uFFFD'))) return names;
  return readdirSync(path, { encoding: 'buffer' }).map(decodeName);
}

/** The path exclusion patterns see: "/"-separated (Windows separators turned around; elsewhere "\\" is a character). */
const patternPath = process.platform === 'win32' ? (p: string) => p.replace(/\\/g, '/') : (p: string) => p;

const problem = (path: string, err: unknown): string => `${showName(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;

/** Walk synchronously. */
export function walk(rootPaths: RootSpec[], isExcluded?: (portable: string) => boolean): WalkResult {
  const w = walkSteps(rootPaths, isExcluded);
  let step = w.next();
  while (!step.done) step = w.next();
  return step.value;
}

/**
 * Walk, giving the event loop a turn every few milliseconds (between folders), so network work started
 * before it (the backup's TLS connect and snapshot listing) proceeds during the walk.
 */
export async function walkAsync(rootPaths: RootSpec[], isExcluded?: (portable: string) => boolean, sliceMs = 4): Promise<WalkResult> {
  const w = walkSteps(rootPaths, isExcluded);
  let until = performance.now() + sliceMs;
  for (let step = w.next(); ; step = w.next()) {
    if (step.done) return step.value;
    if (performance.now() >= until) {
      await new Promise<void>((r) => setImmediate(r));
      until = performance.now() + sliceMs;
    }
  }
}

/** The walk as steps: yields before each sub-folder. */
function* walkSteps(rootPaths: RootSpec[], isExcluded?: (portable: string) => boolean): Generator<void, WalkResult, void> {
  const roots = nameRoots(rootPaths.map((p) => (typeof p === 'string' ? resolve(p) : { ...p, path: resolve(p.path) })));
  const entries: WalkEntry[] = [];
  const warnings: string[] = [];
  const skipped: SkippedPath[] = [];
  const skip = (path: string, err: unknown) => {
    warnings.push(problem(path, err));
    skipped.push({ path, reason: skipReason(err) });
  };
  const visit = function* (source: string, path: string): Generator<void, void, void> {
    let names: string[];
    try {
      names = readNames(source);
    } catch (err) {
      skip(source, err);
      return;
    }
    names.sort();
    const prefix = source.endsWith(sep) ? source : source + sep; // source is normalized
    for (const name of names) {
      const child = prefix + name;
      if (isExcluded?.(patternPath(child))) continue;
      let e: WalkEntry | undefined;
      try {
        e = entryOf(`${path}/${name}`, child, lstatSync(fsPath(child)));
      } catch (err) {
        skip(child, err);
        continue;
      }
      if (!e) continue;
      entries.push(e);
      if (e.type === 'dir') {
        yield;
        yield* visit(child, e.path);
      }
    }
  };
  for (const root of roots) {
    let e: WalkEntry | undefined;
    try {
      e = entryOf(root.name, root.path, lstatSync(root.path));
    } catch (err) {
      // A folder to back up that does not exist (a user without a Desktop) held nothing to skip: a warning only.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') warnings.push(problem(root.path, err));
      else skip(root.path, err);
      continue;
    }
    if (e?.type !== 'dir') {
      warnings.push(`${showName(root.path)}: not a folder`);
      skipped.push({ path: root.path, reason: 'not a folder' });
      continue;
    }
    entries.push(e);
    yield* visit(root.path, root.name);
  }
  return { roots, entries, warnings, skipped };
}
