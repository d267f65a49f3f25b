// Which chunks a snapshot uses (prune's live set, check, and a backup's re-check after a prune).
import { splitIds } from './change-cache.js';
import type { Snapshot, SnapshotDelta, SnapshotEntry } from './snapshot.js';

/** The chunk ids of a snapshot's own file entries (a delta's runs of its base are not included). */
export function entryChunkIds(entries: ReadonlyArray<SnapshotEntry | [number, number]>): string[] {
  const out: string[] = [];
  for (const e of entries) if (typeof e[0] === 'string' && e[1] === 'f' && typeof e[5] === 'string') for (const id of splitIds(e[5])) out.push(id);
  return out;
}

/** Each chunk id of a resolved snapshot with the paths of the files that use it. */
export function chunkFiles(snap: Snapshot, into: Map<string, string[]> = new Map()): Map<string, string[]> {
  for (const e of snap.entries) {
    if (e[1] !== 'f' || typeof e[5] !== 'string') continue;
    for (const id of splitIds(e[5])) {
      const files = into.get(id);
      if (!files) into.set(id, [e[0]]);
      else if (files[files.length - 1] !== e[0]) files.push(e[0]);
    }
  }
  return into;
}

export function isDelta(snap: Snapshot | SnapshotDelta): snap is SnapshotDelta {
  return (snap as SnapshotDelta).base !== undefined;
}
