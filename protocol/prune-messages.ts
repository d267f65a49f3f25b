// Headers of the retention and prune messages (FORGET, PRUNE_BEGIN, PRUNE_LIVE, PRUNE_SWEEP; docs/design.md "Prune").
// The server cannot read snapshots: the agent says which chunks are live, the server sweeps the rest.

/** FORGET: delete these snapshots (their chunks stay until a prune). */
export interface ForgetRequest {
  ids: string[];
}
export interface ForgetReply {
  deleted: string[];
}

/** PRUNE_BEGIN (the mark): from here the server protects every chunk a HAS finds or a PUT sends. */
export interface PruneBeginReply {
  pruneId: string;
  epoch: number;
}

/** PRUNE_LIVE: chunk ids the kept snapshots reference (sent in batches). */
export interface PruneLiveRequest {
  pruneId: string;
  ids: string[];
}

export interface PruneSweepRequest {
  pruneId: string;
  /** The snapshots whose chunks were sent as live: a snapshot stored since then makes the sweep ask again. */
  snapshots: string[];
  dryRun?: boolean;
  /** Rewrite a pack when more than this percentage of it is unused (0-100; default 5). */
  maxUnusedPercent?: number;
}

/** What a sweep did (or, dry run, would do). */
export interface SweepStats {
  chunksBefore: number;
  chunksDeleted: number;
  /** Sealed bytes of the chunks deleted. */
  chunkBytesDeleted: number;
  packsDeleted: number;
  packsRewritten: number;
  /** Live bytes copied into new packs. */
  bytesCopied: number;
  /** Bytes of pack files before and after. */
  packBytesBefore: number;
  packBytesAfter: number;
  /** Unreferenced pack files left by crashes (or earlier interrupted prunes), deleted. */
  orphanPacks: number;
  /** Unused chunks left in packs not worth rewriting (below maxUnusedPercent). */
  unusedKept: number;
}

/** Stats of a sweep that has not deleted anything yet (the server's and the local store's sweeps start here). */
export function newSweepStats(chunksBefore: number, packBytesBefore: number): SweepStats {
  return {
    chunksBefore,
    chunksDeleted: 0,
    chunkBytesDeleted: 0,
    packsDeleted: 0,
    packsRewritten: 0,
    bytesCopied: 0,
    packBytesBefore,
    packBytesAfter: 0,
    orphanPacks: 0,
    unusedKept: 0,
  };
}

export type PruneSweepReply = ({ retry: false; epoch: number } & SweepStats) | { retry: true; snapshots: string[] };

/** LIST_SNAPSHOTS and HAS replies carry `epoch`; PUT_SNAPSHOT may carry the epoch its backup began in. */
export interface EpochFields {
  epoch?: number;
}
