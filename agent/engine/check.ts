// check: every chunk the kept snapshots use is in the store, and (readData) each one authenticates. A missing or
// damaged chunk is named with the files that use it, in every snapshot that has them.
import { ChunkMissingError, type ChunkStore } from '../store.js';
import { ChunkAuthError, openChunk } from './codec.js';
import type { EngineKeys } from './keys.js';
import { listSnapshots, loadSnapshot } from './snapshot.js';
import { chunkFiles } from './snapshot-chunks.js';

export interface ChunkProblem {
  id: string;
  /** "<snapshot id>: <path>" of each file that uses the chunk (the first 20). */
  files: string[];
  /** How many files use it in all. */
  fileCount: number;
  error?: string;
}

export interface CheckResult {
  ok: boolean;
  snapshots: number;
  chunks: number;
  readData: boolean;
  chunksRead: number;
  missing: ChunkProblem[];
  damaged: ChunkProblem[];
  /** Snapshots that could not be read at all (missing base, cannot be decrypted). */
  brokenSnapshots: Array<{ id: string; error: string }>;
}

const FILES_SHOWN = 20;
const READ_BATCH = 32;

export async function checkStore(
  store: ChunkStore,
  keys: EngineKeys,
  opts: { readData?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<CheckResult> {
  const users = new Map<string, string[]>();
  const snaps = await listSnapshots(store);
  const brokenSnapshots: CheckResult['brokenSnapshots'] = [];
  for (const s of snaps) {
    try {
      const snap = await loadSnapshot(store, keys, s.id);
      const own = chunkFiles(snap);
      for (const [id, files] of own) {
        const all = users.get(id) ?? [];
        for (const f of files) all.push(`${s.id}: ${f}`);
        users.set(id, all);
      }
    } catch (err) {
      brokenSnapshots.push({ id: s.id, error: (err as Error).message });
    }
  }
  const problem = (id: string, error?: string): ChunkProblem => {
    const files = users.get(id) ?? [];
    return { id, files: files.slice(0, FILES_SHOWN), fileCount: files.length, ...(error && { error }) };
  };
  const ids = [...users.keys()];
  const have = await store.has(ids);
  const missing = ids.filter((id) => !have.has(id)).map((id) => problem(id));
  const damaged: ChunkProblem[] = [];
  let chunksRead = 0;
  if (opts.readData) {
    const present = ids.filter((id) => have.has(id));
    for (let i = 0; i < present.length; i += READ_BATCH) {
      const batch = present.slice(i, i + READ_BATCH);
      let lease;
      try {
        lease = await store.get(batch);
      } catch (err) {
        // Gone since has() (a prune meanwhile): asked one by one below.
        if (!(err instanceof ChunkMissingError)) throw err;
      }
      if (!lease) {
        for (const id of batch) {
          const one = await store.get([id]).catch((err: unknown) => {
            if (err instanceof ChunkMissingError) return undefined;
            throw err;
          });
          if (!one) missing.push(problem(id));
          else verify(one.data(0), id);
          one?.release();
        }
      } else {
        for (let j = 0; j < batch.length; j++) verify(lease.data(j), batch[j]);
        lease.release();
      }
      chunksRead += batch.length;
      opts.onProgress?.(chunksRead, present.length);
    }
  }
  function verify(data: Uint8Array, id: string): void {
    try {
      openChunk(keys, id, data);
    } catch (err) {
      if (!(err instanceof ChunkAuthError)) throw err;
      damaged.push(problem(id, err.message));
    }
  }
  return {
    ok: missing.length === 0 && damaged.length === 0 && brokenSnapshots.length === 0,
    snapshots: snaps.length,
    chunks: ids.length,
    readData: opts.readData === true,
    chunksRead,
    missing,
    damaged,
    brokenSnapshots,
  };
}
