// Restore ("Heal"): a whole snapshot or a subpath, to the original place or into another folder.
// Every chunk is authenticated (GCM tag, then keyed id) before a byte of it is written; each file is written
// under a temporary name (O_EXCL, so never through a symlink) and renamed into place only when complete.
// Snapshot names that would leave the target ("..", absolute, drive letters) are refused before anything
// is written, and no directory that is a symlink is ever written through.
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, renameSync, symlinkSync, unlinkSync, utimesSync, chmodSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { ChunkMissingError, type ChunkStore } from '../store.js';
import { deriveKeys } from './keys.js';
import { ChunkOpenerPool } from './open-worker.js';
import { portablePath, isSameOrInside } from './patterns.js';
import { splitIds } from './change-cache.js';
import { loadSnapshot, type Snapshot, type SnapshotEntry } from './snapshot.js';

/**
 * Seconds for utimes from a snapshot's mtimeMs, exact to the microsecond. libuv truncates the double to
 * nanoseconds, and ms / 1000 can land a hair below the original (…267.9999 for …268.0001 ms), so aim at the
 * middle of the original microsecond.
 */
function utimeSeconds(mtimeMs: number): number {
  return (Math.floor(mtimeMs * 1000) + 0.5) / 1e6;
}

export interface RestoreProgress {
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
}

export interface RestoreOptions {
  store: ChunkStore;
  deviceKey: Uint8Array;
  /** "latest" or a snapshot id (a unique prefix is enough). */
  snapshot: string;
  /** Only this part: "<root name>/<path>" as in the snapshot, or an original absolute path. */
  subpath?: string;
  /** Restore into this folder (as <target>/<root name>/...); without it, to the original place. */
  target?: string;
  /** Files written at once (default 16). */
  concurrency?: number;
  onProgress?: (p: RestoreProgress) => void;
}

export interface RestoreResult {
  snapshotId: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  durationMs: number;
}

/** A snapshot entry whose name would leave the restore target. */
export class PathEscapeError extends Error {
  constructor(readonly entryPath: string, reason: string) {
    super(`refusing to restore ${JSON.stringify(entryPath)}: ${reason}`);
    this.name = 'PathEscapeError';
  }
}

export interface FileFailure {
  path: string;
  chunkId?: string;
  message: string;
}

/** Some files could not be restored (the others were). Nothing wrong was written in their place. */
export class RestoreError extends Error {
  constructor(readonly failures: FileFailure[], readonly result: RestoreResult) {
    const shown = failures.slice(0, 10).map((f) => `  ${f.path}: ${f.message}`).join('\n');
    const more = failures.length > 10 ? `\n  ... and ${failures.length - 10} more` : '';
    super(`${failures.length} file(s) could not be restored:\n${shown}${more}`);
    this.name = 'RestoreError';
  }
}

const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_FILES = 256;
/** Chunks per request for files bigger than a batch (~2 MiB on average). */
const STREAM_GROUP = 2;
/** Batches (or chunk groups of a big file) fetched and opened ahead of the one being written. */
const PREFETCH = 1;

function checkName(entryPath: string, rootNames: Set<string>): string[] {
  if (isAbsolute(entryPath) || /^[A-Za-z]:/.test(entryPath)) throw new PathEscapeError(entryPath, 'absolute path');
  const parts = entryPath.split('/');
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') throw new PathEscapeError(entryPath, `path component ${JSON.stringify(p)}`);
    if (p.includes('\\') || p.includes('\0')) throw new PathEscapeError(entryPath, 'backslash or NUL in a name');
    if (process.platform === 'win32' && p.includes(':')) throw new PathEscapeError(entryPath, 'colon in a name');
  }
  if (!rootNames.has(parts[0])) throw new PathEscapeError(entryPath, 'not under a root of the snapshot');
  return parts;
}

/** Map a --path argument to a snapshot path. */
function snapshotSubpath(snap: Snapshot, subpath: string): string {
  const trimmed = subpath.replace(/\\/g, '/').replace(/\/+$/, '');
  for (const r of snap.roots) {
    const root = portablePath(r.path);
    if (isAbsolute(subpath) && isSameOrInside(portablePath(subpath), root)) {
      return r.name + portablePath(subpath).slice(root.length);
    }
  }
  return trimmed.replace(/^\/+/, '');
}

interface FileJob {
  entry: SnapshotEntry;
  dest: string;
}

export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const keys = deriveKeys(opts.deviceKey);
  const snap = await loadSnapshot(opts.store, keys, opts.snapshot);
  const rootNames = new Set(snap.roots.map((r) => r.name));
  const rootByName = new Map(snap.roots.map((r) => [r.name, r.path]));

  let selected = snap.entries;
  if (opts.subpath) {
    const sub = snapshotSubpath(snap, opts.subpath);
    selected = snap.entries.filter((e) => e[0] === sub || e[0].startsWith(`${sub}/`));
    if (selected.length === 0) throw new Error(`snapshot ${snap.id} has nothing at ${JSON.stringify(opts.subpath)} (paths look like "${snap.roots[0]?.name ?? 'Documents'}/...")`);
  }

  // Validate every name before writing anything.
  const base = opts.target ? resolve(opts.target) : undefined;
  const placed = selected.map((e) => {
    const parts = checkName(e[0], rootNames);
    if (e[1] === 'f' && (typeof e[5] !== 'string' || !/^(?:[0-9a-f]{64})*$/.test(e[5]))) throw new Error(`snapshot ${snap.id}: malformed chunk list for ${JSON.stringify(e[0])}`);
    if (e[1] === 'l' && typeof e[5] !== 'string') throw new Error(`snapshot ${snap.id}: malformed symlink ${JSON.stringify(e[0])}`);
    const rootDir = base ? join(base, parts[0]) : rootByName.get(parts[0])!;
    return { entry: e, dest: join(rootDir, ...parts.slice(1)), base: base ?? rootDir };
  });

  const verified = new Set<string>();
  /** Create a directory chain below `top`, refusing to pass through anything that is not a real directory. */
  const ensureDir = (top: string, dir: string): void => {
    if (verified.has(dir)) return;
    mkdirSync(top, { recursive: true });
    const rel = dir.slice(top.length).split(/[\\/]/).filter(Boolean);
    let cur = top;
    for (const part of rel) {
      cur = join(cur, part);
      if (verified.has(cur)) continue;
      let st;
      try {
        st = lstatSync(cur);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        mkdirSync(cur);
        st = lstatSync(cur);
      }
      if (st.isSymbolicLink()) throw new PathEscapeError(cur, 'a symlink is in the way (restore never writes through symlinks)');
      if (!st.isDirectory()) throw new PathEscapeError(cur, 'a file is in the way of a folder');
      verified.add(cur);
    }
  };

  const dirs = placed.filter((p) => p.entry[1] === 'd');
  const files: Array<FileJob & { base: string }> = placed.filter((p) => p.entry[1] === 'f');
  const links = placed.filter((p) => p.entry[1] === 'l');
  for (const d of dirs) ensureDir(d.base, d.dest);

  const progress: RestoreProgress = { filesTotal: files.length, filesDone: 0, bytesTotal: 0, bytesDone: 0 };
  for (const f of files) progress.bytesTotal += f.entry[4];
  let lastReport = 0;
  const report = (force = false): void => {
    if (!opts.onProgress) return;
    const now = Date.now();
    if (force || now - lastReport >= 250) {
      lastReport = now;
      opts.onProgress({ ...progress });
    }
  };
  report(true);

  const failures: FileFailure[] = [];
  const fetcher = new ChunkFetcher(opts.store, new ChunkOpenerPool(keys));
  try {
    const concurrency = Math.max(1, opts.concurrency ?? 16);

    // Small files go in batches (one store round trip per batch, fetched PREFETCH batches ahead); big files alone.
    const batches: Array<Array<FileJob & { base: string }>> = [];
    let cur: Array<FileJob & { base: string }> = [];
    let curBytes = 0;
    for (const f of files) {
      if (f.entry[4] > BATCH_BYTES) {
        batches.push([f]);
        continue;
      }
      cur.push(f);
      curBytes += f.entry[4];
      if (curBytes >= BATCH_BYTES || cur.length >= BATCH_FILES) {
        batches.push(cur);
        cur = [];
        curBytes = 0;
      }
    }
    if (cur.length) batches.push(cur);

    const idsOf = (batch: FileJob[]): string[] => {
      if (batch.length === 1 && batch[0].entry[4] > BATCH_BYTES) return [];
      return [...new Set(batch.flatMap((f) => splitIds(f.entry[5] as string)))];
    };
    // Batches are fetched (and opened on the worker pool) PREFETCH ahead of the one being written.
    const ahead: Array<Promise<Map<string, Buffer | Error>>> = [];
    for (let b = 0; b < PREFETCH && b < batches.length; b++) ahead.push(fetcher.fetch(idsOf(batches[b])));
    try {
      for (let b = 0; b < batches.length; b++) {
        const batch = batches[b];
        const chunks = await ahead.shift()!;
        if (b + PREFETCH < batches.length) ahead.push(fetcher.fetch(idsOf(batches[b + PREFETCH])));
        const writeOne = async (f: FileJob & { base: string }): Promise<void> => {
          try {
            ensureDir(f.base, join(f.dest, '..'));
            const ids = splitIds(f.entry[5] as string);
            const source = f.entry[4] > BATCH_BYTES ? fetcher.stream(ids) : singleBatch(ids, chunks);
            await writeFileVerified(f.dest, f.entry, source);
          } catch (err) {
            failures.push({
              path: f.dest,
              chunkId: (err as { id?: string }).id,
              message: (err as Error).message,
            });
          }
          progress.filesDone++;
          progress.bytesDone += f.entry[4];
          report();
        };
        let next = 0;
        await Promise.all(
          Array.from({ length: Math.min(concurrency, batch.length) }, async () => {
            while (next < batch.length) await writeOne(batch[next++]);
          }),
        );
      }
    } finally {
      await Promise.all(ahead.map((p) => p.catch(() => undefined)));
    }
  } finally {
    await fetcher.close();
  }

  let symlinks = 0;
  for (const l of links) {
    try {
      ensureDir(l.base, join(l.dest, '..'));
      const tmp = `${l.dest}.hf-${randomBytes(4).toString('hex')}`;
      symlinkSync(l.entry[5] as string, tmp);
      try {
        const st = lstatSync(l.dest, { throwIfNoEntry: false });
        if (st?.isDirectory()) throw new PathEscapeError(l.dest, 'a folder is in the way of a symlink');
        renameSync(tmp, l.dest);
      } catch (err) {
        unlinkSync(tmp);
        throw err;
      }
      symlinks++;
    } catch (err) {
      failures.push({ path: l.dest, message: (err as Error).message });
    }
  }

  // Folder modes and times last (deepest first): writing inside would change them again.
  for (const d of [...dirs].reverse()) {
    try {
      if (process.platform !== 'win32') chmodSync(d.dest, d.entry[2]);
      utimesSync(d.dest, utimeSeconds(d.entry[3]), utimeSeconds(d.entry[3]));
    } catch (err) {
      failures.push({ path: d.dest, message: (err as Error).message });
    }
  }
  report(true);

  const result: RestoreResult = {
    snapshotId: snap.id,
    files: files.length - failures.filter((f) => files.some((x) => x.dest === f.path)).length,
    dirs: dirs.length,
    symlinks,
    bytes: progress.bytesDone,
    durationMs: Date.now() - started,
  };
  if (failures.length > 0) throw new RestoreError(failures, result);
  return result;
}

async function* singleBatch(ids: string[], chunks: Map<string, Buffer | Error>): AsyncGenerator<[string, Buffer]> {
  for (const id of ids) {
    const c = chunks.get(id);
    if (c === undefined) throw new ChunkMissingError(id);
    if (c instanceof Error) throw c;
    yield [id, c];
  }
}

const umask = process.platform === 'win32' ? 0 : process.umask();

async function writeFileVerified(dest: string, entry: SnapshotEntry, chunks: AsyncIterable<[string, Buffer]>): Promise<void> {
  const tmp = `${dest}.hf-${randomBytes(4).toString('hex')}`;
  const mode = entry[2] & 0o7777;
  // "wx" = O_CREAT|O_EXCL: fails rather than following a symlink planted at the temporary name.
  // Created owner-only; the final mode is applied before the rename (fchmod only when the umask interferes).
  const fh = await open(tmp, 'wx', mode & 0o700);
  let ok = false;
  try {
    let size = 0;
    for await (const [, data] of chunks) {
      await fh.write(data, 0, data.length, size);
      size += data.length;
    }
    if (size !== entry[4]) throw new Error(`restored size ${size} differs from the snapshot's ${entry[4]}`);
    if (process.platform !== 'win32' && (mode & 0o077 || (mode & 0o700 & umask) !== 0 || mode & 0o7000)) await fh.chmod(mode);
    await fh.utimes(utimeSeconds(entry[3]), utimeSeconds(entry[3]));
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await unlink(tmp).catch(() => undefined);
  }
  try {
    // rename replaces a file or a symlink at dest (never following it); a folder in the way makes it fail.
    renameSync(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw new PathEscapeError(dest, 'a folder is in the way of a file');
    throw err;
  }
}

/** Fetches chunks in batches and authenticates each; a failing chunk becomes an Error for its id only. */
class ChunkFetcher {
  constructor(
    private readonly store: ChunkStore,
    private readonly opener: ChunkOpenerPool,
  ) {}

  close(): Promise<void> {
    return this.opener.close();
  }

  async fetch(ids: string[]): Promise<Map<string, Buffer | Error>> {
    const out = new Map<string, Buffer | Error>();
    if (ids.length === 0) return out;
    let got;
    try {
      got = await this.store.get(ids);
    } catch (err) {
      if (!(err instanceof ChunkMissingError) || ids.length === 1) {
        if (ids.length === 1) {
          out.set(ids[0], err as Error);
          return out;
        }
        throw err;
      }
      // Find out which ids are missing, one by one.
      for (const id of ids) for (const [k, v] of await this.fetch([id])) out.set(k, v);
      return out;
    }
    for (const [k, v] of await this.opener.open(got)) out.set(k, v);
    return out;
  }

  /** A big file's chunks, STREAM_GROUP per store round trip, one group fetched ahead. */
  async *stream(ids: string[]): AsyncGenerator<[string, Buffer]> {
    const groups: string[][] = [];
    for (let i = 0; i < ids.length; i += STREAM_GROUP) groups.push(ids.slice(i, i + STREAM_GROUP));
    const ahead: Array<Promise<Map<string, Buffer | Error>>> = [];
    for (let g = 0; g < PREFETCH && g < groups.length; g++) ahead.push(this.fetch([...new Set(groups[g])]));
    for (let g = 0; g < groups.length; g++) {
      const chunks = await ahead.shift()!;
      if (g + PREFETCH < groups.length) ahead.push(this.fetch([...new Set(groups[g + PREFETCH])]));
      try {
        yield* singleBatch(groups[g], chunks);
      } catch (err) {
        await Promise.all(ahead.map((p) => p.catch(() => undefined)));
        throw err;
      }
    }
  }
}
