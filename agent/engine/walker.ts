// Walk the selected folders: what to back up, with the stat data the change cache compares.
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { basename, resolve, sep } from 'node:path';
import { portablePath } from './patterns.js';

export type EntryType = 'file' | 'dir' | 'symlink';

export interface WalkEntry {
  /** Snapshot path: "<root name>/<relative path>", "/"-separated. */
  path: string;
  /** Path on this machine. */
  source: string;
  type: EntryType;
  mode: number;
  mtimeMs: number;
  size: number;
  ino: number;
  linkTarget?: string;
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
  const mode = st.mode & 0o7777;
  if (st.isFile()) return { path, source, type: 'file', mode, mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
  if (st.isDirectory()) return { path, source, type: 'dir', mode, mtimeMs: st.mtimeMs, size: 0, ino: st.ino };
  if (st.isSymbolicLink()) return { path, source, type: 'symlink', mode, mtimeMs: st.mtimeMs, size: 0, ino: st.ino, linkTarget: readlinkSync(source) };
  return undefined; // sockets, devices, fifos: not backed up
}

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
  const visit = function* (source: string, path: string): Generator<void, void, void> {
    let names: string[];
    try {
      names = readdirSync(source);
    } catch (err) {
      warnings.push(`${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return;
    }
    names.sort();
    const prefix = source.endsWith(sep) ? source : source + sep; // source is normalized
    for (const name of names) {
      const child = prefix + name;
      if (isExcluded?.(portablePath(child))) continue;
      let st: Stats;
      try {
        st = lstatSync(child);
      } catch (err) {
        warnings.push(`${child}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        continue;
      }
      const e = entryOf(`${path}/${name}`, child, st);
      if (!e) continue;
      entries.push(e);
      if (e.type === 'dir') {
        yield;
        yield* visit(child, e.path);
      }
    }
  };
  for (const root of roots) {
    let st: Stats;
    try {
      st = lstatSync(root.path);
    } catch (err) {
      warnings.push(`${root.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      continue;
    }
    if (!st.isDirectory()) {
      warnings.push(`${root.path}: not a folder`);
      continue;
    }
    entries.push({ path: root.name, source: root.path, type: 'dir', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, size: 0, ino: st.ino });
    yield* visit(root.path, root.name);
  }
  return { roots, entries, warnings };
}
