// Browsing what is stored: the files of a snapshot (`ls`) and every stored version of one file (`versions`).
// Both only read snapshots (no chunk is fetched); restoring a version is an ordinary restore of one path from the
// snapshot that holds it.
import type { ChunkStore } from '../store.js';
import { deriveKeys } from './keys.js';
import { snapshotSubpath } from './restore.js';
import { listSnapshots, loadSnapshot, MAX_DELTA_DEPTH, type Snapshot, type SnapshotEntry } from './snapshot.js';

const TYPE_NAMES = { f: 'file', d: 'folder', l: 'symlink' } as const;
export type ListedType = (typeof TYPE_NAMES)[keyof typeof TYPE_NAMES];

/** One entry of a snapshot as listed: its snapshot path ("<root name>/..."), what it is, size and time. */
export interface ListedEntry {
  path: string;
  type: ListedType;
  size: number;
  /** Modification time, ISO 8601 (the snapshot holds microseconds; shown to the millisecond). */
  mtime: string;
  mode: number;
  /** Symlinks only: where the link points. */
  target?: string;
}

export interface SnapshotListing {
  snapshot: { id: string; time: string; host: string };
  /** The folder listed ("" for the snapshot's top: its backed-up folders). */
  path: string;
  entries: ListedEntry[];
}

export interface FileVersion {
  /** 1 = the newest. */
  version: number;
  size: number;
  mtime: string;
  /** The newest snapshot holding this version (restore it from there), and when that snapshot was taken. */
  snapshot: string;
  snapshotTime: string;
  /** Every snapshot holding this version, oldest first. */
  snapshots: string[];
}

export interface FileVersions {
  path: string;
  versions: FileVersion[];
}

/**
 * Resolved snapshots kept while walking the history: the most recent ones, where the next delta's base (the
 * snapshot before it, or a few back) is found; bounded, so a long history does not pile up in memory.
 */
class RecentSnapshots extends Map<string, Snapshot> {
  override set(id: string, snap: Snapshot): this {
    super.delete(id);
    super.set(id, snap);
    if (this.size > 2 * MAX_DELTA_DEPTH) this.delete(this.keys().next().value as string);
    return this;
  }
}

/** µs since 1970 → ISO 8601. */
function isoTime(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

function listed(e: SnapshotEntry): ListedEntry {
  return {
    path: e[0],
    type: TYPE_NAMES[e[1]],
    size: e[4],
    mtime: isoTime(e[3]),
    mode: e[2] & 0o7777,
    ...(e[1] === 'l' && typeof e[5] === 'string' && { target: e[5] }),
  };
}

/** A --path / <path> argument in this snapshot's terms: "<root>/..." or an original absolute path; "" is the top. */
function pathIn(snap: Pick<Snapshot, 'roots'>, path: string | undefined): string {
  if (path === undefined || path === '' || path === '/' || path === '.') return '';
  return snapshotSubpath(snap, path);
}

/**
 * The entries of one snapshot in a folder (its direct children; every entry below it with `recursive`), or the entry
 * itself when `path` names a file. Without a path: the backed-up folders.
 */
export async function listSnapshotFiles(
  store: ChunkStore,
  deviceKey: Uint8Array,
  which: string,
  opts: { path?: string; recursive?: boolean } = {},
): Promise<SnapshotListing> {
  const snap = await loadSnapshot(store, deriveKeys(deviceKey), which);
  const dir = pathIn(snap, opts.path);
  const prefix = dir === '' ? '' : `${dir}/`;
  const depth = dir === '' ? 0 : dir.split('/').length;
  const entries: ListedEntry[] = [];
  let found = dir === '';
  for (const e of snap.entries) {
    if (e[0] === dir) {
      found = true;
      if (e[1] !== 'd') entries.push(listed(e));
      continue;
    }
    if (!e[0].startsWith(prefix)) continue;
    found = true;
    if (opts.recursive || e[0].split('/').length === depth + 1) entries.push(listed(e));
  }
  if (!found) throw new Error(`snapshot ${snap.id} has nothing at ${JSON.stringify(opts.path)} (paths look like "${snap.roots[0]?.name ?? 'Documents'}/...")`);
  return { snapshot: { id: snap.id, time: snap.time, host: snap.host }, path: dir, entries };
}

/**
 * Every stored version of one file, newest first: the snapshots are read oldest first (each stored snapshot opened
 * once, deltas resolved against the ones already open), and a version is a distinct (content, size, time) of the
 * file; snapshots in a row that hold the same version are one version.
 */
export async function fileVersions(store: ChunkStore, deviceKey: Uint8Array, path: string): Promise<FileVersions> {
  const keys = deriveKeys(deviceKey);
  const list = (await listSnapshots(store)).reverse();
  const cache = new RecentSnapshots();
  const found: Array<Omit<FileVersion, 'version'> & { key: string }> = [];
  let shownPath: string | undefined;
  for (const info of list) {
    const snap = await loadSnapshot(store, keys, info.id, cache);
    const want = pathIn(snap, path);
    const e = snap.entries.find((x) => x[0] === want && x[1] === 'f');
    if (!e) continue;
    shownPath ??= want;
    const key = `${e[5]}|${e[4]}|${e[3]}`;
    const last = found.at(-1);
    if (last?.key === key) {
      last.snapshots.push(snap.id);
      last.snapshot = snap.id;
      last.snapshotTime = snap.time;
      continue;
    }
    found.push({ key, size: e[4], mtime: isoTime(e[3]), snapshot: snap.id, snapshotTime: snap.time, snapshots: [snap.id] });
  }
  if (found.length === 0) throw new Error(`no snapshot holds a file at ${JSON.stringify(path)} (see "holdfast-agent ls <snapshot>" for the paths)`);
  return {
    path: shownPath ?? path,
    versions: found.reverse().map(({ key: _key, ...v }, i) => ({ version: i + 1, ...v })),
  };
}
