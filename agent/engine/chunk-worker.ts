// The chunk worker: read files in large sync blocks, cut them with FastCDC, give each chunk its keyed id,
// compress it (zstd or brotli, see zstd.ts) when that pays, and seal it with AES-256-GCM. One worker runs per core.
//
// The agent ships as one bundled file, so the worker cannot be a separate module: it runs from the source
// text of `chunkWorkerMain` (see source-worker.ts). That function must therefore be self-contained: no imports, no
// references to anything outside its own body except its `mods` argument and globals.
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, type EngineKeys } from './keys.js';
import { startSourceWorker, type WorkerModules } from './source-worker.js';
import { ZSTD_C_COMPRESSION_LEVEL, ZSTD_C_WINDOW_LOG, ZSTD_LEVEL, ZSTD_WINDOW_LOG } from './zstd.js';

/** A group of files for one worker; the worker answers with `ChunkBatch` messages, the last one at the job's end. */
export interface ChunkJob {
  type: 'job';
  job: number;
  files: Array<{ path: string; size: number }>;
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
  /** [file index within the job, chunk id, offset in buf, length] */
  chunks: Array<[number, string, number, number]>;
  /** Files finished in this batch: [file index, bytes read, error or null]. */
  done: Array<[number, number, string | null]>;
}

export interface WorkerInit {
  encKey: Uint8Array;
  idKey: Uint8Array;
  gear: Uint32Array;
  min: number;
  avg: number;
  max: number;
  /** Shared counter (KiB) of sealed bytes handed to the main thread and not yet stored. */
  inflight: SharedArrayBuffer;
  inflightLimitKiB: number;
  /** Batch buffers come back through this port. */
  recycle: MessagePort;
  /** zstd `params` (used where the runtime has zstd). */
  zstd: Record<number, number>;
}

function chunkWorkerMain(mods: WorkerModules): void {
  const { parentPort, workerData } = mods.wt;
  const { fs, crypto, zlib } = mods;
  const init = workerData as WorkerInit;
  const encKey = Buffer.from(init.encKey);
  const idKey = Buffer.from(init.idKey);
  const gear = init.gear;
  const MIN = init.min;
  const MAX = init.max;
  const bits = Math.round(Math.log2(init.avg));
  // Normalized chunking (FastCDC, level 2): a stricter mask before the average size, a looser one after.
  // The gear hash shifts left, so its high bits depend on the most bytes: masks take the top bits.
  const topBits = (n: number): number => (n >= 32 ? 0xffffffff : (0xffffffff << (32 - n)) >>> 0);
  const maskS = topBits(bits + 2) | 0;
  const maskL = topBits(bits - 2) | 0;
  // The read buffer holds a whole chunk's lookahead (MAX) and a little more: it is refilled whenever less than
  // MAX is left, so the extra only sets the smallest read. 1 MiB more measured ~3.5 MiB more peak RSS, no faster.
  const BLOCK = 256 * 1024;
  const buf = Buffer.allocUnsafeSlow(BLOCK + MAX);
  const inflight = new Int32Array(init.inflight);
  const FORMAT_VERSION = 1;
  const FLAG_BROTLI = 1;
  const FLAG_ZSTD = 2;
  // zstd where the runtime has it (Node ≥ 22.15: the installers' runtime), else brotli quality 0 (zstd.ts).
  const zstdCompress = (zlib as unknown as { zstdCompressSync?: (b: Uint8Array, o: object) => Buffer }).zstdCompressSync;
  const zstdParams = init.zstd;

  /** Length of the next chunk of buf[start, end); `end - start >= MAX` unless this is the file's tail. */
  function cut(start: number, end: number): number {
    const n = end - start;
    if (n <= MIN) return n;
    const limit = Math.min(n, MAX);
    const normal = Math.min(init.avg, limit);
    let h = 0;
    let i = MIN;
    for (; i < normal; i++) {
      h = ((h << 1) + gear[buf[start + i]]) | 0;
      if ((h & maskS) === 0) return i + 1;
    }
    for (; i < limit; i++) {
      h = ((h << 1) + gear[buf[start + i]]) | 0;
      if ((h & maskL) === 0) return i + 1;
    }
    return limit;
  }

  /**
   * Worth compressing? Order-0 entropy of a sample: already-compressed or encrypted data is close to 8 bits per
   * byte, text and most documents far below. Costs microseconds, where trial compression would cost milliseconds.
   */
  const hist = new Uint32Array(256);
  function looksCompressible(chunk: Buffer): boolean {
    if (chunk.length < 256) return false;
    hist.fill(0);
    // Up to 4 spread-out windows of 512 bytes (random data still measures above 7.9 bits per byte).
    const win = Math.min(512, chunk.length);
    const step = chunk.length > 4 * win ? Math.floor((chunk.length - win) / 3) : 0;
    let n = 0;
    for (let w = 0; w < 4; w++) {
      const from = w * step;
      for (let i = from; i < from + win && i < chunk.length; i++) hist[chunk[i]]++;
      n += Math.min(win, chunk.length - from);
      if (step === 0) break;
    }
    let bits = 0;
    for (let b = 0; b < 256; b++) {
      const c = hist[b];
      if (c > 0) bits -= c * Math.log2(c / n);
    }
    return bits / n < 7.2;
  }

  // Sealed chunks are written straight into the batch buffer that is later transferred to the main thread.
  // Batch buffers hold FLUSH_AT and a little more; a chunk that does not fit ends the batch, and one larger than
  // a whole buffer (up to MAX) gets a buffer of its own that is not kept for reuse. Sized for the largest chunk
  // instead (4 MiB), the ~6 buffers in circulation kept ~10 MiB more resident.
  const FLUSH_AT = 2 * 1024 * 1024;
  const CAP = FLUSH_AT + 64 * 1024;
  const spare: ArrayBuffer[] = [];
  function freshBatch(): Uint8Array {
    for (;;) {
      const back = mods.wt.receiveMessageOnPort(init.recycle);
      if (!back) break;
      const returned = back.message as ArrayBuffer;
      if (returned.byteLength <= CAP) spare.push(returned);
    }
    return new Uint8Array(spare.pop() ?? new ArrayBuffer(CAP));
  }
  let batch = freshBatch();
  let outBytes = 0;
  let outChunks: ChunkBatch['chunks'] = [];
  let outDone: ChunkBatch['done'] = [];

  // Each chunk leaves its compressed and encrypted copies behind as garbage whose memory lives outside the V8
  // heap; V8 collects it only after ~64 MiB per thread. A young-generation collection every few MiB (young
  // objects only, well under a millisecond) frees those copies early and keeps the worker's RSS flat.
  const gc = (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc;
  const GC_EVERY = 2 * 1024 * 1024;
  let garbage = 0;

  // Random nonces, drawn 256 at a time (one call per 256 chunks instead of one each).
  const noncePool = Buffer.allocUnsafeSlow(12 * 256);
  let noncePos = noncePool.length;

  function seal(job: number, file: number, chunk: Buffer): void {
    const idBytes = crypto.createHmac('sha256', idKey).update(chunk).digest();
    let body: Buffer = chunk;
    let flags = 0;
    if (looksCompressible(chunk)) {
      const packed = zstdCompress
        ? zstdCompress(chunk, { params: zstdParams })
        : zlib.brotliCompressSync(chunk, {
            params: {
              [zlib.constants.BROTLI_PARAM_QUALITY]: 0,
              [zlib.constants.BROTLI_PARAM_SIZE_HINT]: chunk.length,
              // A 64 KiB window: faster than 1-4 MiB at quality 0 and, on text, no larger (repeats are local).
              [zlib.constants.BROTLI_PARAM_LGWIN]: 16,
            },
          });
      // Compression pays only when it saves at least 1/16 of the chunk.
      if (packed.length < chunk.length - (chunk.length >> 4)) {
        body = packed;
        flags = zstdCompress ? FLAG_ZSTD : FLAG_BROTLI;
      }
    }
    const need = 2 + 12 + body.length + 16;
    if (outBytes + need > batch.length) {
      flush(job);
      if (need > batch.length) batch = new Uint8Array(new ArrayBuffer(need));
    }
    const at = outBytes;
    batch[at] = FORMAT_VERSION;
    batch[at + 1] = flags;
    const nonce = batch.subarray(at + 2, at + 14);
    if (noncePos === noncePool.length) {
      crypto.randomFillSync(noncePool);
      noncePos = 0;
    }
    nonce.set(noncePool.subarray(noncePos, noncePos + 12));
    noncePos += 12;
    const cipher = crypto.createCipheriv('aes-256-gcm', encKey, nonce);
    cipher.setAAD(idBytes);
    let off = at + 14;
    const ct = cipher.update(body);
    batch.set(ct, off);
    off += ct.length;
    const fin = cipher.final();
    batch.set(fin, off);
    off += fin.length;
    batch.set(cipher.getAuthTag(), off);
    outChunks.push([file, idBytes.toString('hex'), at, need]);
    outBytes += need;
    // Garbage this chunk left: the ciphertext, and when compressed also the compressor's output pieces and
    // their concatenation (counted once each, collections came ~1/3 too late and peak RSS was ~4 MiB higher).
    garbage += body === chunk ? ct.length : 2 * body.length + ct.length;
    if (garbage >= GC_EVERY && gc) {
      gc({ type: 'minor' });
      garbage = 0;
    }
  }

  /** Wait while too many sealed bytes are waiting for the store (keeps peak memory bounded). */
  function throttle(addKiB: number): void {
    for (;;) {
      const cur = Atomics.load(inflight, 0);
      if (cur <= init.inflightLimitKiB) break;
      Atomics.wait(inflight, 0, cur, 200);
    }
    Atomics.add(inflight, 0, addKiB);
  }

  function flush(job: number): void {
    if (outChunks.length === 0 && outDone.length === 0) return;
    const buf = batch.buffer as ArrayBuffer;
    throttle(Math.ceil(outBytes / 1024));
    const msg: ChunkBatch = { type: 'batch', job, buf, used: outBytes, chunks: outChunks, done: outDone };
    parentPort!.postMessage(msg, [buf]);
    batch = freshBatch();
    outChunks = [];
    outDone = [];
    outBytes = 0;
  }

  function chunkFile(job: number, file: number, path: string): void {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      outDone.push([file, 0, (err as Error).message]);
      return;
    }
    try {
      let start = 0;
      let end = 0;
      let eof = false;
      let total = 0;
      for (;;) {
        if (!eof && end - start < MAX) {
          if (start > 0) {
            buf.copyWithin(0, start, end);
            end -= start;
            start = 0;
          }
          while (!eof && end < buf.length) {
            const n = fs.readSync(fd, buf, end, buf.length - end, null);
            if (n === 0) eof = true;
            end += n;
            total += n;
          }
        }
        if (end === start) break;
        const len = cut(start, end);
        // The chunk is copied out of the read buffer by the cipher, so the buffer can be reused at once.
        seal(job, file, buf.subarray(start, start + len));
        start += len;
        if (outBytes >= FLUSH_AT) flush(job);
      }
      outDone.push([file, total, null]);
    } catch (err) {
      // Chunks already sent for this file are harmless: the file is left out of the snapshot.
      outDone.push([file, 0, (err as Error).message]);
    } finally {
      fs.closeSync(fd);
    }
  }

  parentPort!.on('message', (msg: ChunkJob) => {
    msg.files.forEach((f, i) => {
      chunkFile(msg.job, i, f.path);
    });
    flush(msg.job);
  });
}

export interface ChunkWorker {
  worker: Worker;
  /** Give a batch buffer back to the worker (after every chunk in it is stored). */
  recycle(buf: ArrayBuffer): void;
}

/** Start one chunk worker. */
export function startChunkWorker(keys: EngineKeys, inflight: SharedArrayBuffer, inflightLimitKiB: number): ChunkWorker {
  const channel = new MessageChannel();
  const init: WorkerInit = {
    encKey: keys.encKey,
    idKey: keys.idKey,
    gear: keys.gear,
    min: CHUNK_MIN,
    avg: CHUNK_AVG,
    max: CHUNK_MAX,
    inflight,
    inflightLimitKiB,
    recycle: channel.port2,
    zstd: { [ZSTD_C_COMPRESSION_LEVEL]: ZSTD_LEVEL, [ZSTD_C_WINDOW_LOG]: ZSTD_WINDOW_LOG },
  };
  const worker = startSourceWorker(chunkWorkerMain, { workerData: init, transferList: [channel.port2] });
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
