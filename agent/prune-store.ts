// What forget, prune and check need from a store beyond the ChunkStore: delete snapshots, and the prune protocol
// (mark, live ids, sweep; docs/design.md "Prune"). The remote store speaks it to the server; the local store
// folder (agent/engine/local-store.ts) does the same on its own files.
import type { PruneSweepReply, PruneSweepRequest } from '../protocol/prune-messages.js';
import type { ChunkStore } from './store.js';

export interface PrunableStore extends ChunkStore {
  /** Deletes these snapshots (chunks stay until a prune); the ones that existed. */
  forgetSnapshots(ids: string[]): Promise<string[]>;
  /** The mark: from now on the store keeps every chunk a backup finds or sends. */
  pruneBegin(): Promise<string>;
  pruneLive(pruneId: string, ids: string[]): Promise<void>;
  pruneSweep(pruneId: string, request: Omit<PruneSweepRequest, 'pruneId'>): Promise<PruneSweepReply>;
}

export function isPrunable(store: ChunkStore): store is PrunableStore {
  return typeof (store as Partial<PrunableStore>).pruneSweep === 'function';
}

/** A snapshot was refused because a prune deleted chunks after its backup began: its chunks must be checked again. */
export function isStaleEpoch(err: unknown): boolean {
  return (err as { code?: string })?.code === 'stale-epoch';
}
