// Restore workers, the main thread's side: each worker thread (restore-thread.ts) authenticates fetched chunks
// (codec.ts openChunk) and writes the files that use them with synchronous fs calls, so the main thread only
// fetches and hands out work. One worker per core; a unit's sealed chunks travel to a worker in one transferred
// ArrayBuffer, which comes back (for reuse) with per-file results and no data.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { ChunkLease, ChunkMissingError } from '../store.js';
import { startBundledWorker } from './bundled-worker.js';
import type { EngineKeys } from './keys.js';

/** One file's share of a unit: a whole file, or a run of a big file's chunks (a file's parts go in order to one worker). */
export interface FileTask {
  /** The caller's number for the file (results name it). */
  key: number;
  dest: string;
  /** Snapshot mode (permission bits are applied; type bits ignored). */
  mode: number;
  /** mtime for futimes: seconds, or a Date before 1970 (times.ts utimeTime). */
  mtime: number | Date;
  /** Expected size of the whole file. */
  size: number;
  /** Give the file this owner and group (restore --owner original); absent: the restoring user's. */
  owner?: [number, number];
  /** Sparse at backup: all-zero chunks are skipped (left as holes), not written. */
  sparse?: boolean;
  /** The file's chunks in this unit, in file order, as indices into the unit's chunk list. */
  chunks: number[];
  /** Create the temporary file (first part) / check size, set mode and time, rename into place (last part). */
  first: boolean;
  last: boolean;
}

export interface RestoreUnit {
  /** The unit's chunks (each once). */
  ids: string[];
  /** The leases the unit's chunks were fetched in: run() moves them to the worker. */
  leases: ChunkLease[];
  /** Chunks that could not be fetched, and the message their files fail with. */
  failed?: Map<string, string>;
  files: FileTask[];
}

export interface TaskFailure {
  key: number;
  message: string;
  chunkId?: string;
}

export interface UnitResult {
  /** Files renamed into place by this unit. */
  ok: number[];
  /** Files that failed in this unit; nothing was put in their place, their temporary file is gone. */
  failed: TaskFailure[];
  /** Plaintext bytes written, per file task (same order as the unit's files). */
  written: number[];
}

/** What a restore worker thread starts with (its workerData). */
export interface RestoreThreadInit {
  encKey: Uint8Array;
  idKey: Uint8Array;
  /** The process umask (0 on Windows): modes it would strip are set with fchmod. */
  umask: number;
  windows: boolean;
}

export interface UnitRequest {
  t: 'unit';
  seq: number;
  buf: ArrayBuffer;
  ids: string[];
  /** [offset, length] of each sealed chunk in buf, or the failure message of a chunk that is not there. */
  spans: Array<[number, number] | string>;
  files: FileTask[];
}

export interface UnitReply {
  t: 'unit';
  seq: number;
  /** The request's buffer, handed back for reuse. */
  buf: ArrayBuffer;
  ok: number[];
  failed: Array<[number, string, string | null]>;
  written: number[];
}

export type WorkerReply = UnitReply | { t: 'closed' };

interface PoolWorker {
  worker: Worker;
  /** Sealed bytes posted and not yet answered. */
  queued: number;
  exited: boolean;
  closed?: () => void;
}

/**
 * The restore's worker threads, started on demand up to `size`. `close()` ends them after they discard any
 * half-written file (a restore must not keep the process alive, nor leave temporary files).
 */
export class RestoreWorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly waiting = new Map<
    number,
    { w: PoolWorker; bytes: number; giveBack: (memory: ArrayBuffer) => void; resolve: (r: UnitResult) => void; reject: (e: Error) => void }
  >();
  private seq = 0;
  private failed: Error | undefined;

  constructor(
    private readonly keys: EngineKeys,
    readonly size = availableParallelism(),
  ) {
    this.size = Math.max(1, Math.floor(size));
  }

  /** A worker for the next independent unit: an idle one, a new one while fewer than `size` run, else the least loaded. */
  pick(): number {
    let best = -1;
    for (let i = 0; i < this.workers.length; i++) {
      if (this.workers[i].queued === 0) return i;
      if (best < 0 || this.workers[i].queued < this.workers[best].queued) best = i;
    }
    if (this.workers.length < this.size) return this.workers.length;
    return best;
  }

  private worker(index: number): PoolWorker {
    while (this.workers.length <= index) {
      const init: RestoreThreadInit = {
        encKey: this.keys.encKey,
        idKey: this.keys.idKey,
        umask: process.platform === 'win32' ? 0 : process.umask(),
        windows: process.platform === 'win32',
      };
      const worker = startBundledWorker('restore', { workerData: init });
      const w: PoolWorker = { worker, queued: 0, exited: false };
      worker.on('message', (m: WorkerReply) => this.onReply(w, m));
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => {
        w.exited = true;
        w.closed?.();
        if (code !== 0) this.fail(new Error(`restore worker exited with code ${code}`));
      });
      this.workers.push(w);
    }
    return this.workers[index];
  }

  /**
   * Authenticate the unit's chunks and write its files on worker `index` (units on one worker run in order).
   * The unit's chunks move to the worker in one transferred buffer: a GET reply's own memory when the lease can
   * hand it over as it is, else a copy (ChunkLease.moveAll). The buffer comes back with the results and goes
   * back to the store for reuse (fresh buffers per unit were ~2 GB of garbage per 1.5 GB restore).
   */
  run(unit: RestoreUnit, index: number): Promise<UnitResult> {
    if (this.failed) {
      for (const lease of unit.leases) lease.release();
      return Promise.reject(this.failed);
    }
    const w = this.worker(index);
    const moved = ChunkLease.moveAll(unit.leases);
    let total = 0;
    const spans = unit.ids.map((id): [number, number] | string => {
      const span = moved.spans.get(id);
      if (span) total += span[1];
      return span ?? unit.failed?.get(id) ?? new ChunkMissingError(id).message;
    });
    const seq = this.seq++;
    w.queued += total;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { w, bytes: total, giveBack: moved.giveBack, resolve, reject });
      const req: UnitRequest = { t: 'unit', seq, buf: moved.memory, ids: unit.ids, spans, files: unit.files };
      w.worker.postMessage(req, [moved.memory]);
    });
  }

  private onReply(w: PoolWorker, m: WorkerReply): void {
    if (m.t === 'closed') {
      w.closed?.();
      return;
    }
    const p = this.waiting.get(m.seq);
    if (!p) return;
    p.giveBack(m.buf);
    this.waiting.delete(m.seq);
    w.queued -= p.bytes;
    p.resolve({
      ok: m.ok,
      failed: m.failed.map(([key, message, chunkId]) => (chunkId === null ? { key, message } : { key, message, chunkId })),
      written: m.written,
    });
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const p of this.waiting.values()) p.reject(err);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    this.fail(new Error('restore worker pool is closed'));
    const workers = this.workers.splice(0);
    await Promise.all(
      workers.map(async (w) => {
        // Units already posted finish first (messages are handled in order); then half-written files go.
        if (!w.exited) {
          await new Promise<void>((resolve) => {
            w.closed = resolve;
            w.worker.postMessage({ t: 'close' });
          });
        }
        await w.worker.terminate();
      }),
    );
  }
}
