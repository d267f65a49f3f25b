// Storing a backup's snapshot when a prune may have run meanwhile. The server refuses the snapshot (stale-epoch) when
// a sweep committed after the backup began; the backup then asks again for every chunk its snapshot names (and, for
// a delta, whether its base is still there). All there: stored under the new epoch. Some gone: the backup runs
// again (PrunedDuringBackupError), reading the files whose chunks were deleted.
import type { ChunkStore } from '../store.js';
import { isStaleEpoch } from '../prune-store.js';
import type { EngineKeys } from './keys.js';
import { storeSnapshot, type Snapshot, type SnapshotDelta } from './snapshot.js';
import { entryChunkIds, isDelta } from './snapshot-chunks.js';

export class PrunedDuringBackupError extends Error {
  constructor(what: string) {
    super(`a prune deleted ${what} this backup uses while it ran; the backup runs again`);
    this.name = 'PrunedDuringBackupError';
  }
}

const STALE_RETRIES = 3;

export async function commitSnapshot(store: ChunkStore, keys: EngineKeys, snap: Snapshot | SnapshotDelta): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await storeSnapshot(store, keys, snap);
      return;
    } catch (err) {
      if (!isStaleEpoch(err) || attempt >= STALE_RETRIES) throw err;
    }
    if (isDelta(snap) && !(await store.listSnapshots()).some((s) => s.id === snap.base)) throw new PrunedDuringBackupError(`snapshot ${snap.base}`);
    const ids = [...new Set(entryChunkIds(snap.entries))];
    const have = await store.has(ids);
    const gone = ids.length - have.size;
    if (gone > 0) throw new PrunedDuringBackupError(`${gone} chunk(s)`);
  }
}
