// The snapshot: the tree and metadata of one backup. Stored as JSON, brotli-compressed and AES-256-GCM sealed,
// either in full (v 7) or as a delta (v 8) that takes runs of entries from a base snapshot by index. Names are in
// the lossless string form of names.ts, times whole microseconds; entries carry owner, group, hard-link identity,
// sparseness and extended attributes. v 5 and v 6 (no extended attributes), v 3 and v 4 (no owners) still load as
// they are; snapshots before those (v 1 full, v 2 delta: times as the double mtimeMs) still load: their times are
// read as whole microseconds, as their restore always did.
import { randomBytes } from 'node:crypto';
import type { ChunkStore, SnapshotInfo } from '../store.js';
import { openSnapshot, sealSnapshot } from './codec.js';
import type { EngineKeys } from './keys.js';
import type { EntryType, WalkRoot } from './walker.js';

/**
 * What an entry has beyond the basics: `h` its hard-link identity ("dev:ino", shared by its names), `s` 1 when sparse,
 * `x` its extended attributes (name in the string form of names.ts → value in base64; agent/engine/xattrs.ts).
 */
export interface EntryExtra {
  h?: string;
  s?: 1;
  x?: Record<string, string>;
}

/**
 * [path, type, mode, mtime (µs since 1970), size, concatenated chunk ids (file) | link target (symlink) | null (dir),
 * uid, gid, extra?]. Entries of formats 1-4 end after the data: they carry no owner.
 */
export type SnapshotEntry =
  | [string, 'f' | 'd' | 'l', number, number, number, string | null]
  | [string, 'f' | 'd' | 'l', number, number, number, string | null, number, number]
  | [string, 'f' | 'd' | 'l', number, number, number, string | null, number, number, EntryExtra];

/**
 * Format of full snapshots written now; DELTA_FORMAT for deltas. 1-6 are their predecessors, odd ones full, even ones
 * deltas (5, 6: no extended attributes; 3, 4: no owners; 1, 2: times in ms).
 */
export const FULL_FORMAT = 7;
export const DELTA_FORMAT = 8;
const OLD_FORMATS = [1, 2, 3, 4, 5, 6];

export interface Snapshot {
  v: typeof FULL_FORMAT;
  id: string;
  time: string;
  host: string;
  platform: string;
  roots: WalkRoot[];
  entries: SnapshotEntry[];
}

/** A run of the base snapshot's (resolved) entries: [first index, count]. */
export type BaseRun = [number, number];

/** A snapshot stored as a delta: its entries, in order, are new entries or runs of the base's entries. */
export interface SnapshotDelta {
  v: typeof DELTA_FORMAT;
  id: string;
  time: string;
  host: string;
  platform: string;
  roots: WalkRoot[];
  base: string;
  /** 1 + the base's depth (a full snapshot has depth 0); restores load at most MAX_DELTA_DEPTH bases. */
  depth: number;
  entries: Array<SnapshotEntry | BaseRun>;
}

/** Longest chain of deltas a backup writes before it stores a full snapshot again. */
export const MAX_DELTA_DEPTH = 8;
/** What loading accepts (a stored chain is never longer than MAX_DELTA_DEPTH; this stops loops). */
const LOAD_DEPTH_LIMIT = 64;

export const typeCode: Record<EntryType, SnapshotEntry[1]> = { file: 'f', dir: 'd', symlink: 'l' };

export class SnapshotNotFoundError extends Error {
  constructor(which: string) {
    super(which === 'latest' ? 'there is no snapshot yet: run a backup first' : `no snapshot ${which} (see "holdfast-agent snapshots")`);
    this.name = 'SnapshotNotFoundError';
  }
}

export function newSnapshotId(time: Date): string {
  return `${time
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;
}

export async function storeSnapshot(store: ChunkStore, keys: EngineKeys, snap: Snapshot | SnapshotDelta): Promise<void> {
  const sealed = sealSnapshot(keys, snap.id, Buffer.from(JSON.stringify(snap)));
  await store.putSnapshot(snap.id, snap.time, sealed);
}

/** Newest first. */
export async function listSnapshots(store: ChunkStore): Promise<SnapshotInfo[]> {
  const list = await store.listSnapshots();
  return [...list].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : a.id < b.id ? 1 : -1));
}

export async function resolveSnapshotId(store: ChunkStore, which: string): Promise<string> {
  const list = await listSnapshots(store);
  if (which === 'latest') {
    if (list.length === 0) throw new SnapshotNotFoundError('latest');
    return list[0].id;
  }
  const hits = list.filter((s) => s.id === which || s.id.startsWith(which));
  if (hits.length !== 1) throw new SnapshotNotFoundError(which);
  return hits[0].id;
}

/**
 * The snapshot with every entry (a delta is resolved against its bases). `cache` (by id) lets a caller that loads
 * many snapshots of one chain (versions of a file) open each stored snapshot once.
 */
export async function loadSnapshot(store: ChunkStore, keys: EngineKeys, which: string, cache?: Map<string, Snapshot>): Promise<Snapshot> {
  const id = await resolveSnapshotId(store, which);
  return loadResolved(store, keys, id, [], cache);
}

async function loadResolved(store: ChunkStore, keys: EngineKeys, id: string, chain: string[], cache?: Map<string, Snapshot>): Promise<Snapshot> {
  const cached = cache?.get(id);
  if (cached) return cached;
  const snap = await loadUncached(store, keys, id, chain, cache);
  cache?.set(id, snap);
  return snap;
}

async function loadUncached(store: ChunkStore, keys: EngineKeys, id: string, chain: string[], cache?: Map<string, Snapshot>): Promise<Snapshot> {
  if (chain.includes(id) || chain.length >= LOAD_DEPTH_LIMIT) throw new Error(`snapshot ${chain[0]} has a base chain that loops or is too long`);
  let sealed: Uint8Array;
  try {
    sealed = await store.getSnapshot(id);
  } catch (err) {
    if (chain.length === 0) throw err;
    throw new Error(`snapshot ${chain[0]} needs snapshot ${id}, which the store cannot provide (${(err as Error).message})`);
  }
  const plain = openSnapshot(keys, id, sealed);
  const snap = JSON.parse(plain.toString('utf8')) as Omit<Snapshot | SnapshotDelta, 'v'> & { v: number; base?: unknown };
  if (snap.id !== id || !Array.isArray(snap.entries) || ![...OLD_FORMATS, FULL_FORMAT, DELTA_FORMAT].includes(snap.v))
    throw new Error(`snapshot ${id} has an unknown format`);
  // Formats 1 and 2 hold mtimeMs: read as whole microseconds (what their restore set).
  const msTimes = snap.v < 3;
  const own = (e: SnapshotEntry): SnapshotEntry => (msTimes ? [e[0], e[1], e[2], Math.floor(e[3] * 1000), e[4], e[5]] : e);
  if (snap.v % 2 === 1) {
    const entries = snap.entries as SnapshotEntry[];
    return { ...(snap as Snapshot), v: FULL_FORMAT, entries: msTimes ? entries.map(own) : entries };
  }
  if (typeof snap.base !== 'string') throw new Error(`snapshot ${id} has an unknown format`);
  const base = await loadResolved(store, keys, snap.base, [...chain, id], cache);
  const entries: SnapshotEntry[] = [];
  for (const item of snap.entries) {
    if (typeof item[0] === 'string') {
      entries.push(own(item as SnapshotEntry));
      continue;
    }
    const [start, count] = item as BaseRun;
    if (item.length !== 2 || !Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > base.entries.length) {
      throw new Error(`snapshot ${id} has a malformed base run ${JSON.stringify(item)}`);
    }
    for (let i = start; i < start + count; i++) entries.push(base.entries[i]);
  }
  return { v: FULL_FORMAT, id, time: snap.time, host: snap.host, platform: snap.platform, roots: snap.roots, entries };
}
