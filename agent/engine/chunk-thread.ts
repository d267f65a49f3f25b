// A chunk worker thread (started by chunk-worker.ts): read files in large sync blocks, cut them with FastCDC,
// give each chunk its keyed id, and seal it (codec.ts: compressed when that pays, AES-256-GCM) straight into
// a batch buffer that is transferred to the main thread and comes back for reuse.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { chunkIdBytes, compressChunk, SEAL_OVERHEAD, sealInto } from './codec.js';
import { CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, type EngineKeys } from './keys.js';
import type { ChunkBatch, ChunkJob, ChunkThreadInit } from './chunk-worker.js';
import { microseconds, statMs } from './times.js';

if (!parentPort) throw new Error('chunk-thread.ts runs on a worker thread (chunk-worker.ts starts it)');
const port = parentPort;
const init = workerData as ChunkThreadInit;
const keys: EngineKeys = { encKey: Buffer.from(init.encKey), idKey: Buffer.from(init.idKey), gear: init.gear };
const gear = keys.gear;
const bits = Math.round(Math.log2(CHUNK_AVG));
// Normalized chunking (FastCDC, level 2): a stricter mask before the average size, a looser one after.
// The gear hash shifts left, so its high bits depend on the most bytes: masks take the top bits.
const topBits = (n: number): number => (n >= 32 ? 0xffffffff : (0xffffffff << (32 - n)) >>> 0);
const maskS = topBits(bits + 2) | 0;
const maskL = topBits(bits - 2) | 0;
// The read buffer holds a whole chunk's lookahead (CHUNK_MAX) and a little more: it is refilled whenever less than
// CHUNK_MAX is left, so the extra only sets the smallest read. 1 MiB more measured ~3.5 MiB more peak RSS, no faster.
const BLOCK = 256 * 1024;
const buf = Buffer.allocUnsafeSlow(BLOCK + CHUNK_MAX);
const inflight = new Int32Array(init.inflight);

/** Length of the next chunk of buf[start, end); `end - start >= CHUNK_MAX` unless this is the file's tail. */
function cut(start: number, end: number): number {
  const n = end - start;
  if (n <= CHUNK_MIN) return n;
  const limit = Math.min(n, CHUNK_MAX);
  const normal = Math.min(CHUNK_AVG, limit);
  let h = 0;
  let i = CHUNK_MIN;
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

// Sealed chunks are written straight into the batch buffer that is later transferred to the main thread.
// Batch buffers hold FLUSH_AT and a little more; a chunk that does not fit ends the batch, and one larger than
// a whole buffer (up to CHUNK_MAX) gets a buffer of its own that is not kept for reuse. Sized for the largest
// chunk instead (4 MiB), the ~6 buffers in circulation kept ~10 MiB more resident.
const FLUSH_AT = 2 * 1024 * 1024;
const CAP = FLUSH_AT + 64 * 1024;
const spare: ArrayBuffer[] = [];
function freshBatch(): Uint8Array {
  for (;;) {
    const back = receiveMessageOnPort(init.recycle);
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
  const idBytes = chunkIdBytes(keys, chunk);
  const { body, flags } = compressChunk(chunk);
  const need = body.length + SEAL_OVERHEAD;
  if (outBytes + need > batch.length) {
    flush(job);
    if (need > batch.length) batch = new Uint8Array(new ArrayBuffer(need));
  }
  if (noncePos === noncePool.length) {
    randomFillSync(noncePool);
    noncePos = 0;
  }
  const nonce = noncePool.subarray(noncePos, noncePos + 12);
  noncePos += 12;
  sealInto(keys, idBytes, body, flags, nonce, batch, outBytes);
  outChunks.push([file, idBytes.toString('hex'), outBytes, need]);
  outBytes += need;
  // Garbage this chunk left: the ciphertext, and when compressed also the compressor's output pieces and
  // their concatenation (counted once each, collections came ~1/3 too late and peak RSS was ~4 MiB higher).
  garbage += body === chunk ? body.length : 3 * body.length;
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
  const out = batch.buffer as ArrayBuffer;
  throttle(Math.ceil(outBytes / 1024));
  const msg: ChunkBatch = { type: 'batch', job, buf: out, used: outBytes, chunks: outChunks, done: outDone };
  port.postMessage(msg, [out]);
  batch = freshBatch();
  outChunks = [];
  outDone = [];
  outBytes = 0;
}

/** Read the whole file from its start and chunk it; returns the bytes read. */
function readAll(job: number, file: number, fd: number): number {
  let start = 0;
  let end = 0;
  let eof = false;
  let total = 0;
  for (;;) {
    if (!eof && end - start < CHUNK_MAX) {
      if (start > 0) {
        buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      while (!eof && end < buf.length) {
        const n = readSync(fd, buf, end, buf.length - end, total);
        if (n === 0) eof = true;
        end += n;
        total += n;
      }
    }
    if (end === start) return total;
    const len = cut(start, end);
    // The chunk is copied out of the read buffer by the cipher, so the buffer can be reused at once.
    seal(job, file, buf.subarray(start, start + len));
    start += len;
    if (outBytes >= FLUSH_AT) flush(job);
  }
}

/** Reads of a file that keeps changing before it is stored as last read and reported. */
const MAX_READS = 3;
/** Never through a symlink put in the file's place after the walk (the agent may run as root among users). */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

/** What a read is checked with: size, mtime, ctime (as plain stat doubles) and inode. */
type Version = [number, number, number, number];
const versionOf = (st: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }): Version => [
  Number(st.size),
  statMs(st.mtimeNs),
  statMs(st.ctimeNs),
  Number(st.ino),
];
const sameVersion = (a: Version, b: Version): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];

/**
 * Chunk one file. A read saw one version when the file's size, mtime, ctime and inode after it are what they were
 * before it: the walk's lstat stands for "before" (no extra stat on the common path), an fstat of its own after a
 * change. A changed file is read again from its start (its chunks so far are dropped); after MAX_READS reads it is
 * stored as last read and reported changed (the next backup reads it again).
 */
function chunkFile(job: number, file: number, f: ChunkJob['files'][number]): void {
  let fd: number;
  try {
    // A Buffer path arrives as a plain Uint8Array.
    fd = openSync(typeof f.path === 'string' ? f.path : Buffer.from(f.path.buffer, f.path.byteOffset, f.path.byteLength), OPEN_FLAGS);
  } catch (err) {
    outDone.push([file, 0, (err as Error).message, null, false]);
    return;
  }
  try {
    let before: Version = [f.size, f.mtimeMs, f.ctimeMs, f.ino];
    for (let read = 1; ; read++) {
      if (read > 1) {
        outChunks.push([file, '', 0, 0]);
        before = versionOf(fstatSync(fd, { bigint: true }));
      }
      const total = readAll(job, file, fd);
      const st = fstatSync(fd, { bigint: true });
      const after = versionOf(st);
      const same = sameVersion(before, after) && total === after[0];
      if (same || read === MAX_READS) {
        outDone.push([file, total, null, [microseconds(st.mtimeNs), after[1], after[3]], !same]);
        return;
      }
    }
  } catch (err) {
    // Chunks already sent for this file are harmless: the file is left out of the snapshot.
    outDone.push([file, 0, (err as Error).message, null, false]);
  } finally {
    closeSync(fd);
  }
}

port.on('message', (msg: ChunkJob) => {
  msg.files.forEach((f, i) => {
    chunkFile(msg.job, i, f);
  });
  flush(msg.job);
});
