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
  /**
   * Fetch chunks; rejects with ChunkMissingError naming the first absent id. The caller owns the lease until it
   * releases it or moves its memory out (a restore passes ~1.5 GB through a few reused buffers).
   */
  get(ids: string[]): Promise<ChunkLease>;
  putSnapshot(id: string, time: string, data: Uint8Array): Promise<void>;
  getSnapshot(id: string): Promise<Uint8Array>;
  listSnapshots(): Promise<SnapshotInfo[]>;
  /** Small named blobs kept per device, e.g. the escrowed device key ("key-escrow"). */
  putBlob(name: string, data: Uint8Array): Promise<void>;
  getBlob(name: string): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}

/** How a store's leases hold their memory (the store's side; callers only see ChunkLease). */
export interface LeaseMemory {
  /** Buffers that only this lease uses; when every chunk lies in one of them, it can move without a copy. */
  own?: ArrayBuffer[];
  /** Memory for a copy of `size` bytes (default: new memory). */
  alloc?(size: number): ArrayBuffer;
  /** Memory of a lease (its own, or a copy from alloc) that nothing uses any more: the store may reuse it. */
  recycle?(memory: ArrayBuffer): void;
}

/** Chunks moved out of their leases: one buffer that the caller owns, to transfer to a worker thread and back. */
export interface MovedChunks {
  memory: ArrayBuffer;
  /** [offset, length] in `memory` of each chunk, by id. */
  spans: Map<string, [number, number]>;
  /** Done with the memory (it may have travelled to a worker and back: pass the buffer that came back). Once. */
  giveBack(memory: ArrayBuffer): void;
}

/** The chunks were released or moved out: the lease no longer gives access to them. */
export class LeaseSpentError extends Error {
  constructor(how: string) {
    super(`chunk lease already ${how}: its chunks can no longer be read`);
    this.name = 'LeaseSpentError';
  }
}

/**
 * Detach `memory` from every view of it and return the same bytes as a new ArrayBuffer (no copy): whoever
 * still holds a view of the old one sees an empty array, never data the memory is reused for later.
 */
function detach(memory: ArrayBuffer): ArrayBuffer {
  if (memory.byteLength === 0) return memory;
  // ArrayBuffer.prototype.transfer (Node 22; ~3× faster there than structuredClone) where there is one.
  const transfer = (memory as { transfer?: () => ArrayBuffer }).transfer;
  return transfer ? transfer.call(memory) : structuredClone(memory, { transfer: [memory] });
}

/**
 * Sealed chunks from one get(), owned by the caller until it releases them or moves them out. Afterwards
 * data() throws, and memory that goes back to the store is first detached from every view, so nobody can keep
 * reading a buffer that later replies are received into. Releasing twice does nothing.
 */
export class ChunkLease {
  private views: Uint8Array[] | undefined;
  private spent: 'released' | 'moved' | undefined;

  constructor(
    readonly ids: readonly string[],
    views: Uint8Array[],
    private readonly memory: LeaseMemory = {},
  ) {
    if (views.length !== ids.length) throw new Error(`chunk lease: ${ids.length} ids but ${views.length} chunks`);
    this.views = views;
  }

  private held(): Uint8Array[] {
    if (!this.views) throw new LeaseSpentError(this.spent ?? 'released');
    return this.views;
  }

  /** Sealed bytes of chunk `ids[i]`: a view valid until release() or move(). */
  data(i: number): Uint8Array {
    return this.held()[i];
  }

  /** Every chunk as { id, data } (views, valid until release() or move()). */
  chunks(): StoredChunk[] {
    return this.held().map((data, i) => ({ id: this.ids[i], data }));
  }

  /**
   * Move the chunks out as one buffer the caller owns: the lease's own memory when every chunk lies in one
   * buffer only this lease uses (no copy), else a copy (and the lease's memory goes back to the store).
   */
  move(): MovedChunks {
    return ChunkLease.moveAll([this]);
  }

  /** Done with the chunks: the store may reuse their memory. */
  release(): void {
    if (!this.views) return;
    this.views = undefined;
    this.spent = 'released';
    for (const m of this.memory.own ?? []) this.memory.recycle?.(detach(m));
  }

  /** move() for the chunks of several leases (one buffer; a copy unless there is one lease that can move as it is). */
  static moveAll(leases: ChunkLease[]): MovedChunks {
    const views = leases.map((l) => l.held());
    const spans = new Map<string, [number, number]>();
    const own = leases.length === 1 ? leases[0].memory.own : undefined;
    if (own?.length === 1 && views[0].every((v) => v.buffer === own[0])) {
      const lease = leases[0];
      lease.views = undefined;
      lease.spent = 'moved';
      views[0].forEach((v, i) => {
        spans.set(lease.ids[i], [v.byteOffset, v.byteLength]);
      });
      return { memory: own[0], spans, giveBack: once(lease.memory.recycle) };
    }
    let total = 0;
    for (const list of views) for (const v of list) total += v.byteLength;
    const first = leases[0]?.memory;
    const memory = leases.length === 1 && first?.alloc ? first.alloc(total) : new ArrayBuffer(total);
    const copy = new Uint8Array(memory);
    let at = 0;
    leases.forEach((lease, j) => {
      views[j].forEach((v, i) => {
        copy.set(v, at);
        spans.set(lease.ids[i], [at, v.byteLength]);
        at += v.byteLength;
      });
      lease.release();
    });
    return { memory, spans, giveBack: once(leases.length === 1 ? first?.recycle : undefined) };
  }
}

/** giveBack for moved memory: hands it to `recycle` (detached from any view still around) the first time only. */
function once(recycle: ((memory: ArrayBuffer) => void) | undefined): (memory: ArrayBuffer) => void {
  let given = false;
  return (memory) => {
    if (given) return;
    given = true;
    recycle?.(detach(memory));
  };
}
