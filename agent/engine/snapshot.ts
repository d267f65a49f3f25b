// The snapshot: the tree and metadata of one backup. Stored as JSON, brotli-compressed and AES-256-GCM sealed.
import { randomBytes } from 'node:crypto';
import type { ChunkStore, SnapshotInfo } from '../store.js';
import { openSnapshot, sealSnapshot } from './codec.js';
import type { EngineKeys } from './keys.js';
import type { EntryType, WalkRoot } from './walker.js';

/** [path, type, mode, mtimeMs, size, concatenated chunk ids (file) | link target (symlink) | null (dir)] */
export type SnapshotEntry = [string, 'f' | 'd' | 'l', number, number, number, string | null];

export interface Snapshot {
  v: 1;
  id: string;
  time: string;
  host: string;
  platform: string;
  roots: WalkRoot[];
  entries: SnapshotEntry[];
}

export const typeCode: Record<EntryType, SnapshotEntry[1]> = { file: 'f', dir: 'd', symlink: 'l' };

export class SnapshotNotFoundError extends Error {
  constructor(which: string) {
    super(which === 'latest' ? 'there is no snapshot yet: run a backup first' : `no snapshot ${which} (see "holdfast-agent snapshots")`);
    this.name = 'SnapshotNotFoundError';
  }
}

export function newSnapshotId(time: Date): string {
  return `${time.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;
}

export async function storeSnapshot(store: ChunkStore, keys: EngineKeys, snap: Snapshot): Promise<void> {
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

export async function loadSnapshot(store: ChunkStore, keys: EngineKeys, which: string): Promise<Snapshot> {
  const id = await resolveSnapshotId(store, which);
  const plain = openSnapshot(keys, id, await store.getSnapshot(id));
  const snap = JSON.parse(plain.toString('utf8')) as Snapshot;
  if (snap.v !== 1 || snap.id !== id || !Array.isArray(snap.entries)) throw new Error(`snapshot ${id} has an unknown format`);
  return snap;
}
