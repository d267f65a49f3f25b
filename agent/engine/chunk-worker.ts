// Chunk workers, the main thread's side: one worker thread per core (chunk-thread.ts) reads files, cuts them
// with FastCDC, gives each chunk its keyed id and seals it (codec.ts); the messages between the two are here.
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { startBundledWorker } from './bundled-worker.js';
import type { EngineKeys } from './keys.js';

/** A group of files for one worker; the worker answers with `ChunkBatch` messages, the last one at the job's end. */
export interface ChunkJob {
  type: 'job';
  job: number;
  /**
   * Each file's path as fs takes it (names.ts fsPath) and the walk's plain lstat of it: a read that ends with the
   * file still as the walk saw it read one version.
   */
  files: Array<{ path: string | Uint8Array; size: number; mtimeMs: number; ctimeMs: number; ino: number }>;
}

/** The stat of a file as of the read that was stored: [mtime (exact µs), mtimeMs (plain stat double), inode]. */
export type ReadStat = [number, number, number];

/** What a read is checked with: size, mtime, ctime (as plain stat doubles) and inode. */
export type Version = [number, number, number, number];

/**
 * A large file's first pass on one worker: its chunk boundaries, answered with `ScanBounds` messages as they are found
 * while the chunks are sealed by every worker (`RangeJob`), so one large file keeps every core busy.
 */
export interface ScanJob {
  type: 'scan';
  job: number;
  file: ChunkJob['files'][number];
}

/** Chunk lengths found since the last message, in file order; `done` with the last: [bytes read, error, stat, changed, version]. */
export interface ScanBounds {
  type: 'bounds';
  job: number;
  lengths: number[];
  done?: [number, string | null, ReadStat | null, boolean, Version | null];
}

/**
 * Consecutive chunks of a scanned file, from `offset`, to read and seal; answered like a one-file ChunkJob. A file
 * that is no longer the `version` the scan read is reported changed (and chunked again as a whole).
 */
export interface RangeJob {
  type: 'range';
  job: number;
  path: string | Uint8Array;
  offset: number;
  lengths: number[];
  version: Version;
  /** Key of the KnownIds sent for this file: chunks among them are reported with length 0 (stored, not sealed). */
  known?: number;
}

/** Chunk ids (hex, concatenated) of a large file's version in the last snapshot, for its range jobs; no ids: forget them. */
export interface KnownIds {
  type: 'known';
  key: number;
  ids?: string;
}

/**
 * Results of one worker, batched across files (one message per ~2 MB or per job end): the sealed chunks lie
 * back to back in `buf` (transferred, not copied), in file order. The main thread hands `buf` back through
 * the worker's recycle port once every chunk in it is stored, so a backup reuses a few buffers throughout.
 */
export interface ChunkBatch {
  type: 'batch';
  job: number;
  buf: ArrayBuffer;
  /** Bytes of `buf` in use. */
  used: number;
  /**
   * [file index within the job, chunk id, offset in buf, length]; an empty id means the file changed while it was
   * read and is read again from its start: its chunks so far do not count.
   */
  chunks: Array<[number, string, number, number]>;
  /**
   * Files finished in this batch: [file index, bytes read, error or null, stat of the read stored, changed: every
   * read saw the file change (stored as last read)].
   */
  done: Array<[number, number, string | null, ReadStat | null, boolean]>;
}

/** What a chunk worker thread starts with (its workerData). */
export interface ChunkThreadInit {
  encKey: Uint8Array;
  idKey: Uint8Array;
  gear: Uint32Array;
  /** Shared counter (KiB) of sealed bytes handed to the main thread and not yet stored. */
  inflight: SharedArrayBuffer;
  inflightLimitKiB: number;
  /** Batch buffers come back through this port. */
  recycle: MessagePort;
}

export interface ChunkWorker {
  worker: Worker;
  /** Give a batch buffer back to the worker (after every chunk in it is stored). */
  recycle(buf: ArrayBuffer): void;
}

/** Start one chunk worker. */
export function startChunkWorker(keys: EngineKeys, inflight: SharedArrayBuffer, inflightLimitKiB: number): ChunkWorker {
  const channel = new MessageChannel();
  const init: ChunkThreadInit = { encKey: keys.encKey, idKey: keys.idKey, gear: keys.gear, inflight, inflightLimitKiB, recycle: channel.port2 };
  const worker = startBundledWorker('chunk', { workerData: init, transferList: [channel.port2] });
  // Lets the process exit while the port is open.
  channel.port1.unref();
  return { worker, recycle: (buf) => channel.port1.postMessage(buf, [buf]) };
}

/**
 * Chunk workers started ahead of need: booting one takes ~40 ms, which would otherwise come after the walk.
 * Waiting workers are unref'd (they never keep the process alive) until taken.
 */
export class ChunkWorkerPool {
  /** Shared counter (KiB) of sealed bytes handed to the main thread and not yet stored. */
  readonly inflight = new SharedArrayBuffer(4);
  private idle: Array<{ w: ChunkWorker; error?: Error; onError: (err: Error) => void }> = [];

  constructor(
    private readonly keys: EngineKeys,
    private readonly inflightLimitKiB: number,
  ) {}

  /** Start workers until `n` are waiting. */
  warm(n: number): void {
    while (this.idle.length < n) {
      const w = startChunkWorker(this.keys, this.inflight, this.inflightLimitKiB);
      const entry: (typeof this.idle)[number] = { w, onError: (err) => (entry.error ??= err) };
      w.worker.on('error', entry.onError);
      w.worker.unref();
      this.idle.push(entry);
    }
  }

  /** `n` started workers (waiting ones first); the caller owns and terminates them. */
  take(n: number): ChunkWorker[] {
    this.warm(n);
    return this.idle.splice(0, n).map(({ w, error, onError }) => {
      w.worker.off('error', onError);
      w.worker.ref();
      if (error) {
        void w.worker.terminate();
        throw error;
      }
      return w;
    });
  }

  /** Stop the workers nobody took. */
  async close(): Promise<void> {
    await Promise.all(this.idle.splice(0).map(({ w }) => w.worker.terminate()));
  }
}
