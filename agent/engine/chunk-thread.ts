// A chunk worker thread (started by chunk-worker.ts): read files in large sync blocks, cut them with FastCDC,
// give each chunk its keyed id, and seal it (codec.ts: compressed when that pays, AES-256-GCM) straight into
// a batch buffer that is transferred to the main thread and comes back for reuse.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { chunkIdBytes, compressChunk, SEAL_OVERHEAD, sealInto } from './codec.js';
import { CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, type EngineKeys } from './keys.js';
import type { ChunkBatch, ChunkJob, ChunkThreadInit, KnownIds, RangeJob, ScanBounds, ScanJob, Version } from './chunk-worker.js';
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
// The read buffer holds at least one whole chunk (up to CHUNK_MAX) and a block more. Chunk boundaries are found as the
// bytes are read (the cut state carries over between reads), so the buffer is filled to its end and only the unfinished
// chunk at its end is moved to the front before the next read: ~1/8 of the bytes on average. The previous reader kept
// CHUNK_MAX of lookahead and moved up to 4 MiB with copyWithin for every chunk it consumed (~3 times the file's bytes).
const BLOCK = 256 * 1024;
const buf = Buffer.allocUnsafeSlow(BLOCK + CHUNK_MAX);
const inflight = new Int32Array(init.inflight);

/**
 * FastCDC (normalized, level 2) as a state machine over the bytes as they arrive: `at` bytes of the current chunk
 * seen, `h` the gear hash since CHUNK_MIN. Byte k of a chunk (k >= CHUNK_MIN) ends the chunk at k + 1 when the hash
 * has no bit of the mask set (the stricter maskS before CHUNK_AVG, maskL after); CHUNK_MAX bytes end it anyway; the
 * file's end ends the last one. The same boundaries as cutting each chunk with CHUNK_MAX of lookahead.
 */
let cutAt = 0;
let cutH = 0;

/** Scans buf[p, end) for the end of the current chunk: its end index (the state reset for the next), or -1. */
function scanCut(p: number, end: number): number {
  let at = cutAt;
  let h = cutH;
  if (at < CHUNK_MIN) {
    const skip = Math.min(CHUNK_MIN - at, end - p);
    p += skip;
    at += skip;
  }
  if (at >= CHUNK_MIN && at < CHUNK_AVG) {
    const from = p;
    const stop = Math.min(end, p + (CHUNK_AVG - at));
    while (p < stop) {
      h = ((h << 1) + gear[buf[p++]]) | 0;
      if ((h & maskS) === 0) return chunkEnds(p);
    }
    at += p - from;
  }
  if (at >= CHUNK_AVG) {
    const from = p;
    const stop = Math.min(end, p + (CHUNK_MAX - at));
    while (p < stop) {
      h = ((h << 1) + gear[buf[p++]]) | 0;
      if ((h & maskL) === 0) return chunkEnds(p);
    }
    at += p - from;
    if (at === CHUNK_MAX) return chunkEnds(p);
  }
  cutAt = at;
  cutH = h;
  return -1;
}

function chunkEnds(p: number): number {
  cutAt = 0;
  cutH = 0;
  return p;
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

function seal(job: number, file: number, chunk: Buffer, idBytes = chunkIdBytes(keys, chunk)): void {
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
  // buf[start, p) is the current chunk so far, buf[p, end) read and not yet scanned.
  let start = 0;
  let p = 0;
  let end = 0;
  let total = 0;
  cutAt = 0;
  cutH = 0;
  for (;;) {
    if (p === end) {
      if (end === buf.length) {
        // Full: the unfinished chunk (under CHUNK_MAX, so at least BLOCK is free after it) moves to the front.
        buf.copyWithin(0, start, end);
        p -= start;
        end -= start;
        start = 0;
      }
      const n = readSync(fd, buf, end, buf.length - end, total);
      if (n === 0) {
        if (end > start) seal(job, file, buf.subarray(start, end));
        return total;
      }
      end += n;
      total += n;
    }
    const c = scanCut(p, end);
    if (c < 0) {
      p = end;
      continue;
    }
    // The chunk is copied out of the read buffer by the cipher, so the buffer can be reused at once.
    seal(job, file, buf.subarray(start, c));
    start = p = c;
    if (outBytes >= FLUSH_AT) flush(job);
  }
}

/**
 * A large file, first pass (scan job): its chunk boundaries only, read in whole buffers and never moved, sent to the
 * main thread as they are found, which has the chunks sealed by all workers (range jobs) meanwhile.
 */
function scanFile(msg: ScanJob): void {
  const f = msg.file;
  const report = (out: ScanBounds): void => port.postMessage(out);
  let fd: number;
  try {
    fd = openSync(typeof f.path === 'string' ? f.path : Buffer.from(f.path.buffer, f.path.byteOffset, f.path.byteLength), OPEN_FLAGS);
  } catch (err) {
    report({ type: 'bounds', job: msg.job, lengths: [], done: [0, (err as Error).message, null, false, null] });
    return;
  }
  try {
    cutAt = 0;
    cutH = 0;
    let total = 0;
    let chunkStart = 0;
    let lengths: number[] = [];
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, total);
      if (n === 0) break;
      for (let p = 0; ; ) {
        const c = scanCut(p, n);
        if (c < 0) break;
        lengths.push(total + c - chunkStart);
        chunkStart = total + c;
        p = c;
      }
      total += n;
      if (lengths.length > 0) {
        report({ type: 'bounds', job: msg.job, lengths });
        lengths = [];
      }
    }
    if (total > chunkStart) lengths.push(total - chunkStart);
    const st = fstatSync(fd, { bigint: true });
    const after = versionOf(st);
    const same = sameVersion([f.size, f.mtimeMs, f.ctimeMs, f.ino], after) && total === after[0];
    report({ type: 'bounds', job: msg.job, lengths, done: [total, null, [microseconds(st.mtimeNs), after[1], after[3]], !same, after] });
  } catch (err) {
    report({ type: 'bounds', job: msg.job, lengths: [], done: [0, (err as Error).message, null, false, null] });
  } finally {
    closeSync(fd);
  }
}

/** A large file, second pass (range job): consecutive chunks found by a scan, read in one go and sealed. */
function sealRange(msg: RangeJob): void {
  let fd: number;
  try {
    fd = openSync(typeof msg.path === 'string' ? msg.path : Buffer.from(msg.path.buffer, msg.path.byteOffset, msg.path.byteLength), OPEN_FLAGS);
  } catch (err) {
    outDone.push([0, 0, (err as Error).message, null, false]);
    return;
  }
  try {
    let want = 0;
    for (const n of msg.lengths) want += n;
    let got = 0;
    while (got < want) {
      const n = readSync(fd, buf, got, want - got, msg.offset + got);
      if (n === 0) break;
      got += n;
    }
    const st = fstatSync(fd, { bigint: true });
    // Another version than the scan saw: the main thread chunks the file again as a whole.
    const same = got === want && sameVersion(msg.version, versionOf(st));
    if (same) {
      const stored = msg.known === undefined ? undefined : known.get(msg.known);
      let at = 0;
      for (const n of msg.lengths) {
        const chunk = buf.subarray(at, at + n);
        at += n;
        const idBytes = chunkIdBytes(keys, chunk);
        // A chunk of the file's version in the last snapshot is stored already: its id only, nothing sealed.
        if (stored?.has(idBytes.toString('hex'))) outChunks.push([0, idBytes.toString('hex'), 0, 0]);
        else seal(msg.job, 0, chunk, idBytes);
      }
    }
    outDone.push([0, got, null, [microseconds(st.mtimeNs), statMs(st.mtimeNs), Number(st.ino)], !same]);
  } catch (err) {
    outDone.push([0, 0, (err as Error).message, null, false]);
  } finally {
    closeSync(fd);
  }
}

/** Reads of a file that keeps changing before it is stored as last read and reported. */
const MAX_READS = 3;
/** Never through a symlink put in the file's place after the walk (the agent may run as root among users). */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

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

/** Chunk ids of large files' versions in the last snapshot, by key (KnownIds). */
const known = new Map<number, Set<string>>();

port.on('message', (msg: ChunkJob | ScanJob | RangeJob | KnownIds) => {
  if (msg.type === 'known') {
    if (msg.ids === undefined) known.delete(msg.key);
    else known.set(msg.key, new Set(msg.ids.match(/.{64}/g) ?? []));
    return;
  }
  if (msg.type === 'scan') return scanFile(msg);
  if (msg.type === 'range') sealRange(msg);
  else
    msg.files.forEach((f, i) => {
      chunkFile(msg.job, i, f);
    });
  flush(msg.job);
});
