// The boundary between the backup engine (agent/engine) and where its encrypted blobs live.
// The engine only ever hands ciphertext across it; the remote store (agent/remote-store.ts) speaks the
// wire protocol to the test server with failover, and a local directory store serves engine tests.

/** An encrypted chunk. `id` is a keyed hash of the plaintext (hex), so the server cannot test guesses. */
export interface StoredChunk {
  id: string;
  data: Uint8Array;
}

export interface SnapshotInfo {
  id: string;
  /** ISO 8601, as reported by the engine when it stored the snapshot. */
  time: string;
  size: number;
}

export class ChunkMissingError extends Error {
  constructor(readonly id: string) {
    super(`chunk ${id} is missing from the server`);
    this.name = 'ChunkMissingError';
  }
}

export interface ChunkStore {
  /** Of these ids, the ones the store already holds. Batched: call with thousands at once. */
  has(ids: string[]): Promise<Set<string>>;
  /** Store chunks durably (the promise resolves only after the server acknowledged them). */
  put(chunks: StoredChunk[]): Promise<void>;
  /** Fetch chunks; rejects with ChunkMissingError naming the first absent id. */
  get(ids: string[]): Promise<StoredChunk[]>;
  /**
   * Optional: the caller has copied what it needs out of chunks that get() returned, and holds no view of
   * their data any more; the store may reuse that memory (a restore passes ~1.5 GB through a few buffers).
   */
  release?(chunks: Iterable<Uint8Array>): void;
  /**
   * Optional: hand over the memory that chunks from one get() are views of, when it holds nothing else and
   * nothing else uses it, so the caller can move it to a worker thread without a copy; undefined otherwise
   * (copy, then release()). Give it back with reuse() when done.
   */
  take?(chunks: Uint8Array[]): ArrayBuffer | undefined;
  /** Optional: memory from take() that the caller is done with; the store may receive later replies in it. */
  reuse?(memory: ArrayBuffer): void;
  putSnapshot(id: string, time: string, data: Uint8Array): Promise<void>;
  getSnapshot(id: string): Promise<Uint8Array>;
  listSnapshots(): Promise<SnapshotInfo[]>;
  /** Small named blobs kept per device, e.g. the escrowed device key ("key-escrow"). */
  putBlob(name: string, data: Uint8Array): Promise<void>;
  getBlob(name: string): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}
