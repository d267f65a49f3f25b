// Restore workers: each one authenticates fetched chunks (AES-256-GCM, brotli or zstd, keyed id) and writes the files
// that use them with synchronous fs calls, so the main thread only fetches and hands out work. One worker per
// core; a unit's sealed chunks travel to a worker in one transferred ArrayBuffer, which comes back (for reuse)
// with per-file results and no data.
//
// Like chunk-worker.ts, the worker runs from the source text of `restoreWorkerMain` (the agent is one bundled
// file): that function must be self-contained. Its chunk checks are those of codec.ts `openChunk`, with the
// same failure reasons, so a tampered chunk reads the same whichever path opened it; its file writes keep the
// restore guarantees of restore.ts (temporary name opened O_EXCL, rename into place only when complete).
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { EngineKeys } from './keys.js';
import { startSourceWorker, type WorkerModules } from './source-worker.js';
import { zstdDecoderSource } from './zstd.js';

/** One file's share of a unit: a whole file, or a run of a big file's chunks (a file's parts go in order to one worker). */
export interface FileTask {
  /** The caller's number for the file (results name it). */
  key: number;
  dest: string;
  /** Snapshot mode (permission bits are applied; type bits ignored). */
  mode: number;
  /** mtime for utimes, in seconds. */
  mtime: number;
  /** Expected size of the whole file. */
  size: number;
  /** The file's chunks in this unit, in file order, as indices into the unit's chunk list. */
  chunks: number[];
  /** Create the temporary file (first part) / check size, set mode and time, rename into place (last part). */
  first: boolean;
  last: boolean;
}

export interface RestoreUnit {
  /** The unit's chunks (each once). */
  ids: string[];
  /** Sealed bytes of each chunk, or why it could not be fetched (the message the file fails with). */
  data: Array<Uint8Array | string>;
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

interface UnitRequest {
  t: 'unit';
  seq: number;
  buf: ArrayBuffer;
  ids: string[];
  /** [offset, length] of each sealed chunk in buf, or the failure message of a chunk that is not there. */
  spans: Array<[number, number] | string>;
  files: FileTask[];
}

interface UnitReply {
  t: 'unit';
  seq: number;
  /** The request's buffer, handed back for reuse. */
  buf: ArrayBuffer;
  ok: number[];
  failed: Array<[number, string, string | null]>;
  written: number[];
}

type WorkerReply = UnitReply | { t: 'closed' };

function restoreWorkerMain(mods: WorkerModules): void {
  const { parentPort, workerData } = mods.wt;
  const { fs, crypto, zlib } = mods;
  const encKey = Buffer.from(workerData.encKey as Uint8Array);
  const idKey = Buffer.from(workerData.idKey as Uint8Array);
  const umask = workerData.umask as number;
  const windows = workerData.windows as boolean;
  // zstd chunks: natively where the runtime has it, else with fzstd from the source text the main thread passed (zstd.ts).
  const nativeZstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array, o: { chunkSize: number }) => Buffer }).zstdDecompressSync;
  const fzstdSource = workerData.fzstdSource as string | null;
  const NO_ZSTD = 'cannot decode a zstd-compressed chunk';
  let fzstd: { decompress(b: Uint8Array): Uint8Array } | undefined;
  function zstdDecompress(body: Buffer, chunkSize: number): Buffer {
    if (nativeZstd) return nativeZstd(body, { chunkSize });
    if (!fzstdSource) throw new Error(`${NO_ZSTD}, and Node ${process.version} has no zstd (Node 22.15 or later has it)`);
    if (!fzstd) {
      const module = { exports: {} as { decompress(b: Uint8Array): Uint8Array } };
      new Function('module', 'exports', fzstdSource)(module, module.exports);
      fzstd = module.exports;
    }
    const out = fzstd.decompress(body);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
  const HEADER = 14;
  const TAG = 16;
  // Every chunk leaves its decrypted and decompressed copies behind as garbage whose memory lives outside the
  // V8 heap; V8 would collect it only after ~64 MiB. A young-generation collection every GC_EVERY bytes is
  // about a millisecond and keeps the worker's memory flat.
  const gc = (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc;
  const GC_EVERY = 8 * 1024 * 1024;
  let garbage = 0;
  /** Largest output buffer (a chunk's plaintext is at most 4 MiB). */
  const MAX_OUT = 4 * 1024 * 1024;

  /**
   * The plaintext size a zstd frame header declares (Frame_Content_Size, RFC 8878 §3.1.1.1), or -1 when absent.
   * zstd chunks are one frame with the size set, so decoding can write into one buffer of exactly that size.
   */
  function zstdContentSize(b: Buffer): number {
    if (b.length < 6 || b.readUInt32LE(0) !== 0xfd2fb528) return -1;
    const descriptor = b[4];
    const sizeFlag = descriptor >> 6;
    const singleSegment = (descriptor >> 5) & 1;
    const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3];
    const n = sizeFlag === 0 ? singleSegment : [0, 2, 4, 8][sizeFlag];
    if (n === 0 || at + n > b.length) return -1;
    if (n === 1) return b[at];
    if (n === 2) return b.readUInt16LE(at) + 256;
    if (n === 4) return b.readUInt32LE(at);
    return Number(b.readBigUInt64LE(at));
  }

  function collect(): void {
    if (garbage >= GC_EVERY && gc) {
      gc({ type: 'minor' });
      garbage = 0;
    }
  }

  /** codec.ts openChunk, returning the failure reason instead of throwing. */
  function open(id: string, data: Buffer): Buffer | string {
    const idBytes = Buffer.from(id, 'hex');
    if (idBytes.length !== 32) return 'malformed id';
    if (data.length < HEADER + TAG) return 'too short';
    if (data[0] !== 1) return `unknown format version ${data[0]}`;
    const flags = data[1];
    if (flags !== 0 && flags !== 1 && flags !== 2) return `unknown flags ${flags}`;
    garbage += data.length;
    const decipher = crypto.createDecipheriv('aes-256-gcm', encKey, data.subarray(2, HEADER));
    decipher.setAAD(idBytes);
    decipher.setAuthTag(data.subarray(data.length - TAG));
    let body: Buffer;
    try {
      const head = decipher.update(data.subarray(HEADER, data.length - TAG));
      const tail = decipher.final();
      body = tail.length ? Buffer.concat([head, tail]) : head;
    } catch {
      return 'GCM tag mismatch';
    }
    if (flags !== 0) {
      // Output in one piece: the default 16 KiB pieces plus their final concatenation made twice the plaintext
      // in garbage. zstd frames declare the size (the spare bytes keep Node from allocating a second buffer
      // when the first is exactly full); brotli's output is guessed at 4× (text is ~3:1 here), a power of two.
      const declared = flags === 2 ? zstdContentSize(body) : -1;
      const chunkSize = declared >= 0 ? Math.min(declared, MAX_OUT) + 64 : Math.min(MAX_OUT, Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(body.length * 4))));
      try {
        body = flags === 1 ? zlib.brotliDecompressSync(body, { chunkSize }) : zstdDecompress(body, chunkSize);
        garbage += body.length + chunkSize;
      } catch (err) {
        const message = (err as Error).message;
        return message.startsWith(NO_ZSTD) ? message : 'corrupt compressed data';
      }
    }
    const actual = crypto.createHmac('sha256', idKey).update(body).digest();
    if (!crypto.timingSafeEqual(actual, idBytes)) return 'content does not match its id';
    return body;
  }

  class ChunkFailure extends Error {
    constructor(
      message: string,
      readonly chunkId: string,
    ) {
      super(message);
    }
  }

  interface OpenFile {
    fd: number;
    tmp: string;
    size: number;
  }
  // Temporary names: a random prefix per worker and a counter (O_EXCL makes a planted name fail, never followed).
  const tmpPrefix = crypto.randomBytes(6).toString('hex');
  let tmpCount = 0;

  /** Big files whose first part is written and last part not yet, by key. */
  const openFiles = new Map<number, OpenFile>();

  function discard(f: OpenFile): void {
    if (f.fd >= 0) {
      try {
        fs.closeSync(f.fd);
      } catch {
        // already failing; the unlink below is what matters
      }
      f.fd = -1;
    }
    try {
      fs.unlinkSync(f.tmp);
    } catch {
      // gone already
    }
  }

  function runUnit(req: UnitRequest): UnitReply {
    const src = Buffer.from(req.buf);
    const plains: Array<Buffer | { message: string } | null | undefined> = new Array(req.ids.length);
    const chunk = (i: number): Buffer | { message: string } => {
      let p = plains[i];
      if (!p) {
        const span = req.spans[i];
        if (typeof span === 'string') p = { message: span };
        else {
          const r = open(req.ids[i], src.subarray(span[0], span[0] + span[1]));
          if (typeof r !== 'string') p = r;
          else p = { message: r.startsWith(NO_ZSTD) ? `chunk ${req.ids[i]}: ${r}` : `chunk ${req.ids[i]} failed authentication (${r})` };
        }
        plains[i] = p;
      }
      return p;
    };
    // Each plaintext is dropped after the last file of the unit that uses it, so garbage can be collected early.
    const lastUse = new Array<number>(req.ids.length);
    req.files.forEach((t, j) => {
      for (const c of t.chunks) lastUse[c] = j;
    });
    const ok: number[] = [];
    const failed: Array<[number, string, string | null]> = [];
    const written: number[] = [];
    for (let j = 0; j < req.files.length; j++) {
      if (j > 0) {
        for (const c of req.files[j - 1].chunks) if (lastUse[c] === j - 1) plains[c] = null;
        collect();
      }
      const t = req.files[j];
      let f = t.first ? undefined : openFiles.get(t.key);
      let wrote = 0;
      // A later part of a file that already failed: the main thread knows; nothing to do.
      if (!t.first && !f) {
        written.push(0);
        continue;
      }
      try {
        if (!f) {
          const tmp = `${t.dest}.hf-${tmpPrefix}${(tmpCount++).toString(36)}`;
          // "wx" = O_CREAT|O_EXCL: fails rather than following a symlink planted at the temporary name.
          // Created with the file's permission bits (never wider than the final file); fchmod before the rename
          // only when the umask takes bits away or special bits (setuid, setgid, sticky) are set.
          f = { fd: fs.openSync(tmp, 'wx', t.mode & 0o777), tmp, size: 0 };
        }
        for (const c of t.chunks) {
          const p = chunk(c);
          if (!Buffer.isBuffer(p)) throw new ChunkFailure(p.message, req.ids[c]);
          for (let off = 0; off < p.length; ) off += fs.writeSync(f.fd, p, off, p.length - off, f.size + off);
          f.size += p.length;
          wrote += p.length;
        }
        if (!t.last) {
          openFiles.set(t.key, f);
          written.push(wrote);
          continue;
        }
        openFiles.delete(t.key);
        if (f.size !== t.size) throw new Error(`restored size ${f.size} differs from the snapshot's ${t.size}`);
        const mode = t.mode & 0o7777;
        if (!windows && ((mode & 0o777 & umask) !== 0 || mode & 0o7000)) fs.fchmodSync(f.fd, mode);
        fs.futimesSync(f.fd, t.mtime, t.mtime);
        fs.closeSync(f.fd);
        f.fd = -1;
        try {
          // rename replaces a file or a symlink at dest (never following it); a folder in the way makes it fail.
          fs.renameSync(f.tmp, t.dest);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || (windows && code === 'EPERM' && isDir(t.dest))) {
            throw new Error(`refusing to restore ${JSON.stringify(t.dest)}: a folder is in the way of a file`);
          }
          throw err;
        }
        ok.push(t.key);
      } catch (err) {
        openFiles.delete(t.key);
        if (f) discard(f);
        failed.push([t.key, (err as Error).message, err instanceof ChunkFailure ? err.chunkId : null]);
      }
      written.push(wrote);
    }
    return { t: 'unit', seq: req.seq, buf: req.buf, ok, failed, written };
  }

  function isDir(p: string): boolean {
    try {
      return fs.lstatSync(p).isDirectory();
    } catch {
      return false;
    }
  }

  parentPort!.on('message', (req: UnitRequest | { t: 'close' }) => {
    if (req.t === 'close') {
      for (const f of openFiles.values()) discard(f);
      openFiles.clear();
      parentPort!.postMessage({ t: 'closed' } satisfies WorkerReply);
      return;
    }
    const reply = runUnit(req);
    // The unit's buffer goes back for reuse.
    parentPort!.postMessage(reply, [reply.buf]);
    collect();
  });
}

const SPARE_MIN = 4 * 1024 * 1024;
const MAX_SPARE = 2;

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
  private readonly waiting = new Map<number, { w: PoolWorker; bytes: number; taken: boolean; resolve: (r: UnitResult) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private failed: Error | undefined;
  /** Unit buffers the workers handed back, for reuse (fresh ones per unit were ~2 GB of garbage per 1.5 GB restore). */
  private spare: ArrayBuffer[] = [];

  constructor(
    private readonly keys: EngineKeys,
    readonly size = availableParallelism(),
    /** Where memory handed to run() comes back once its worker is done with it (the store's reuse()). */
    private readonly giveBack?: (memory: ArrayBuffer) => void,
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
      const worker = startSourceWorker(restoreWorkerMain, {
        workerData: {
          encKey: this.keys.encKey,
          idKey: this.keys.idKey,
          umask: process.platform === 'win32' ? 0 : process.umask(),
          windows: process.platform === 'win32',
          fzstdSource: zstdDecoderSource(),
        },
      });
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
   * `memory`: the buffer every chunk of the unit is a view of, handed over by the store (take()); it moves to
   * the worker as it is, and comes back through `giveBack`. Without it the chunks are copied into a buffer the
   * worker can own (received data may share memory with other frames).
   */
  run(unit: RestoreUnit, index: number, memory?: ArrayBuffer): Promise<UnitResult> {
    if (this.failed) return Promise.reject(this.failed);
    const w = this.worker(index);
    let total = 0;
    for (const d of unit.data) if (typeof d !== 'string') total += d.byteLength;
    let buf: ArrayBuffer;
    let spans: UnitRequest['spans'];
    if (memory) {
      buf = memory;
      spans = unit.data.map((d) => (typeof d === 'string' ? d : [d.byteOffset, d.byteLength]));
    } else {
      const copy = new Uint8Array(this.buffer(total));
      let at = 0;
      spans = unit.data.map((d) => {
        if (typeof d === 'string') return d;
        copy.set(d, at);
        at += d.byteLength;
        return [at - d.byteLength, d.byteLength];
      });
      buf = copy.buffer as ArrayBuffer;
    }
    const seq = this.seq++;
    w.queued += total;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { w, bytes: total, taken: memory !== undefined, resolve, reject });
      const req: UnitRequest = { t: 'unit', seq, buf, ids: unit.ids, spans, files: unit.files };
      w.worker.postMessage(req, [buf]);
    });
  }

  /** The smallest spare buffer that fits, or a new one (at least SPARE_MIN, so it can serve later units). */
  private buffer(size: number): ArrayBuffer {
    let best = -1;
    this.spare.forEach((b, i) => {
      if (b.byteLength >= size && (best < 0 || b.byteLength < this.spare[best].byteLength)) best = i;
    });
    if (best >= 0) return this.spare.splice(best, 1)[0];
    return new ArrayBuffer(Math.max(size, SPARE_MIN));
  }

  private onReply(w: PoolWorker, m: WorkerReply): void {
    if (m.t === 'closed') {
      w.closed?.();
      return;
    }
    const p = this.waiting.get(m.seq);
    if (p?.taken) this.giveBack?.(m.buf);
    else if (this.spare.length < MAX_SPARE) this.spare.push(m.buf);
    if (!p) return;
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
