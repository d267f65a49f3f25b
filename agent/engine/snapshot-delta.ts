// Turning a walk into the next snapshot: entries the change cache shows unchanged become runs of the cached
// snapshot (a delta snapshot), or the whole entry list when a full snapshot is due; and the next change cache.
import type { ChangeCache } from './change-cache.js';
import { ChangeCacheWriter, type EntryMeta } from './change-cache.js';
import {
  DELTA_FORMAT,
  FULL_FORMAT,
  MAX_DELTA_DEPTH,
  typeCode,
  type BaseRun,
  type EntryExtra,
  type Snapshot,
  type SnapshotDelta,
  type SnapshotEntry,
} from './snapshot.js';
import { fsPath } from './names.js';
import { exactMtime } from './times.js';
import type { WalkEntry, WalkResult } from './walker.js';

/** For each walked entry, its index in the cache (same snapshot path under the same root folder), or -1. */
export function matchCache(cache: ChangeCache, walked: WalkResult): Int32Array {
  const idx = new Int32Array(walked.entries.length).fill(-1);
  if (cache.count === 0) return idx;
  const sameRoot = new Set(cache.roots.filter((r) => walked.roots.some((w) => w.name === r.name && w.path === r.path)).map((r) => r.name));
  let rootOk = false;
  let hint = 0;
  walked.entries.forEach((e, j) => {
    if (e.path.indexOf('/') < 0) rootOk = sameRoot.has(e.path); // a root folder's entry starts its entries
    if (!rootOk) return;
    const i = cache.indexOf(e.path, hint);
    if (i >= 0) {
      idx[j] = i;
      hint = i + 1;
    }
  });
  return idx;
}

/** How each walked file ended up: from the cache, read (ids + bytes read), or unreadable. */
export interface FileOutcome {
  ids: string;
  bytesRead: number;
  /** It changed during every read: what was stored may mix versions, so the next backup must read it again. */
  changed?: boolean;
  /** The file's stat as of the read that was stored (the chunk worker's fstat): exact mtime (µs), plain mtimeMs, inode. */
  stat?: { mtime: number; mtimeMs: number; ino: number };
}

export interface SnapshotMeta {
  id: string;
  time: string;
  host: string;
  platform: string;
}

export interface PlannedSnapshot {
  snapshot: Snapshot | SnapshotDelta;
  files: number;
  dirs: number;
  bytes: number;
  /** Same entries as the cached snapshot: the cache stays as it is (it still names a listed snapshot). */
  unchanged: boolean;
  /** Write the change cache that describes this snapshot. */
  saveCache(path: string): void;
}

/**
 * `cached[j]` is 1 when walked file j was taken from the cache (not read); `read` holds the files read; a file
 * in neither could not be read and is left out.
 */
export function planSnapshot(
  cache: ChangeCache,
  walked: WalkResult,
  cacheIdx: Int32Array,
  cached: Uint8Array,
  read: Map<WalkEntry, FileOutcome>,
  meta: SnapshotMeta,
): PlannedSnapshot {
  const items: Array<SnapshotEntry | BaseRun> = [];
  const inos: number[] = []; // per new entry in items: inode, -1 = read it again next time
  const stamps: number[] = []; // per new entry in items: the plain stat mtimeMs the next walk compares
  // The exact time of a new entry: the cached one when the walk saw the cached time, else a stat of its own.
  const exact = (e: WalkEntry, i: number): number => {
    const cachedTime = i >= 0 && cache.mtimeMs(i) === e.mtimeMs ? cache.mtime(i) : undefined;
    return cachedTime ?? exactMtime(fsPath(e.source), e.mtimeMs);
  };
  let run: BaseRun | undefined;
  let changed = 0;
  let files = 0;
  let dirs = 0;
  let bytes = 0;
  let count = 0;
  const entries = walked.entries;
  for (let j = 0; j < entries.length; j++) {
    const e = entries[j];
    const i = cacheIdx[j];
    let entry: SnapshotEntry | undefined;
    let same = false;
    let ino = e.ino;
    let stamp = e.mtimeMs;
    const meta = walkMeta(e);
    if (e.type === 'file') {
      if (cached[j]) {
        same = i >= 0 && cache.same(i, 'f', e.mode, e.mtimeMs, e.size, e.size === 0 ? '' : undefined, meta);
        if (!same) entry = withMeta([e.path, 'f', e.mode, exact(e, i), e.size, e.size === 0 ? '' : cache.dataOf(i)], meta);
        bytes += e.size;
      } else {
        const r = read.get(e);
        if (!r) continue; // unreadable: warned already
        // Time and inode of the version read: the next walk matches them when the file stays as it was read.
        entry = withMeta([e.path, 'f', e.mode, r.stat?.mtime ?? exact(e, -1), r.bytesRead, r.ids], meta);
        if (r.stat) ({ mtimeMs: stamp, ino } = r.stat);
        // A file that changed while it was read is stored as read, but read again next time.
        if ((!r.stat && r.bytesRead !== e.size) || r.changed) ino = -1;
        bytes += r.bytesRead;
      }
      files++;
    } else {
      const data = e.type === 'symlink' ? (e.linkTarget ?? '') : null;
      same = i >= 0 && cache.same(i, typeCode[e.type], e.mode, e.mtimeMs, 0, data, meta);
      if (!same) entry = withMeta([e.path, typeCode[e.type], e.mode, exact(e, i), 0, data], meta);
      if (e.type === 'dir') dirs++;
    }
    count++;
    if (same) {
      if (run && run[0] + run[1] === i) run[1]++;
      else items.push((run = [i, 1]));
    } else {
      run = undefined;
      items.push(entry!);
      inos.push(ino);
      stamps.push(stamp);
      changed++;
    }
  }

  const useDelta = cache.snapshotId !== null && !cache.legacy && cache.depth < MAX_DELTA_DEPTH && changed * 4 <= count;
  const rootsSame = JSON.stringify(walked.roots) === JSON.stringify(cache.roots);
  const unchanged = useDelta && rootsSame && changed === 0 && items.length === 1 && (items[0] as BaseRun)[1] === cache.count;
  const common = { id: meta.id, time: meta.time, host: meta.host, platform: meta.platform, roots: walked.roots };
  const snapshot: Snapshot | SnapshotDelta = useDelta
    ? { v: DELTA_FORMAT, ...common, base: cache.snapshotId!, depth: cache.depth + 1, entries: items }
    : { v: FULL_FORMAT, ...common, entries: expand(cache, items) };
  return {
    snapshot,
    files,
    dirs,
    bytes,
    unchanged,
    saveCache(path: string): void {
      const w = new ChangeCacheWriter();
      let k = 0;
      for (const item of items) {
        if (typeof item[0] === 'string') {
          const ino = inos[k];
          w.add(item as SnapshotEntry, stamps[k++], ino, ino !== -1);
        } else w.copyRun(cache, item[0], item[1] as number);
      }
      w.save(path, meta.id, useDelta ? cache.depth + 1 : 0, walked.roots);
    },
  };
}

/** Owner, group and extras of a walked entry, as a snapshot entry holds them. */
function walkMeta(e: WalkEntry): EntryMeta {
  if (e.hardLink === undefined && !e.sparse && e.xattrs === undefined) return { uid: e.uid, gid: e.gid };
  const extra: EntryExtra = {};
  if (e.hardLink !== undefined) extra.h = e.hardLink;
  if (e.sparse) extra.s = 1;
  if (e.xattrs !== undefined) extra.x = e.xattrs;
  return { uid: e.uid, gid: e.gid, extra };
}

function withMeta(e: [string, SnapshotEntry[1], number, number, number, string | null], m: EntryMeta): SnapshotEntry {
  return m.extra ? [...e, m.uid, m.gid, m.extra] : [...e, m.uid, m.gid];
}

function expand(cache: ChangeCache, items: Array<SnapshotEntry | BaseRun>): SnapshotEntry[] {
  const out: SnapshotEntry[] = [];
  for (const item of items) {
    if (typeof item[0] === 'string') out.push(item as SnapshotEntry);
    else for (let i = item[0]; i < item[0] + (item[1] as number); i++) out.push(cache.entry(i));
  }
  return out;
}
