// A restore worker thread (started by restore-worker.ts): opens a unit's sealed chunks (codec.ts openChunk:
// decrypt, brotli or zstd, keyed-id check) and writes the files that use them with synchronous fs calls, keeping
// the restore guarantees of restore.ts (temporary name opened O_EXCL, rename into place only when complete).
import { closeSync, fchmodSync, fchownSync, ftruncateSync, futimesSync, lstatSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { type CodecKeys, type GarbageCount, openChunk } from './codec.js';
import { fsPath, showName, temporaryBeside } from './names.js';
import type { RestoreThreadInit, UnitReply, UnitRequest, WorkerReply } from './restore-worker.js';

if (!parentPort) throw new Error('restore-thread.ts runs on a worker thread (restore-worker.ts starts it)');
const port = parentPort;
const init = workerData as RestoreThreadInit;
const keys: CodecKeys = { encKey: Buffer.from(init.encKey), idKey: Buffer.from(init.idKey) };
const { umask, windows } = init;
// Every chunk leaves its decrypted and decompressed copies behind as garbage whose memory lives outside the
// V8 heap; V8 would collect it only after ~64 MiB. A young-generation collection every GC_EVERY bytes is
// about a millisecond and keeps the worker's memory flat.
const gc = (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc;
const GC_EVERY = 8 * 1024 * 1024;
const garbage: GarbageCount = { bytes: 0 };

function collect(): void {
  if (garbage.bytes >= GC_EVERY && gc) {
    gc({ type: 'minor' });
    garbage.bytes = 0;
  }
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
  /** The temporary file, as handed to fs (names.ts fsPath). */
  tmp: string | Buffer;
  size: number;
}
// Temporary names: a random prefix per worker and a counter (O_EXCL makes a planted name fail, never followed),
// short and beside the destination (names.ts temporaryBeside), whatever the length of its name.
const tmpPrefix = randomBytes(6).toString('hex');
let tmpCount = 0;

/** Big files whose first part is written and last part not yet, by key. */
const openFiles = new Map<number, OpenFile>();

function discard(f: OpenFile): void {
  if (f.fd >= 0) {
    try {
      closeSync(f.fd);
    } catch {
      // already failing; the unlink below is what matters
    }
    f.fd = -1;
  }
  try {
    unlinkSync(f.tmp);
  } catch {
    // gone already
  }
}

// Sparse files: all-zero blocks are not written, so a hole at backup stays a hole (the file's length is set before
// it is closed). 64 KiB: fine enough to keep the holes of a chunk that holds some data, coarse enough to be cheap.
const HOLE_BLOCK = 64 * 1024;
const zeros = Buffer.alloc(HOLE_BLOCK);

function writeSparse(fd: number, p: Buffer, pos: number): void {
  for (let at = 0; at < p.length; at += HOLE_BLOCK) {
    const block = p.subarray(at, at + HOLE_BLOCK);
    if (block.equals(zeros.subarray(0, block.length))) continue;
    for (let off = 0; off < block.length; ) off += writeSync(fd, block, off, block.length - off, pos + at + off);
  }
}

function giveAway(fd: number, [uid, gid]: [number, number]): void {
  try {
    fchownSync(fd, uid, gid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    throw new Error(`cannot give the file to its owner (uid ${uid}, gid ${gid}): only root can; restore with --owner me to keep it yours`);
  }
}

function isDir(p: string | Buffer): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
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
        try {
          p = openChunk(keys, req.ids[i], src.subarray(span[0], span[0] + span[1]), garbage);
        } catch (err) {
          p = { message: (err as Error).message };
        }
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
        const tmp = fsPath(temporaryBeside(t.dest, `${tmpPrefix}${(tmpCount++).toString(36)}`));
        // "wx" = O_CREAT|O_EXCL: fails rather than following a symlink planted at the temporary name.
        // Created with the file's permission bits (never wider than the final file); fchmod before the rename
        // only when the umask takes bits away or special bits (setuid, setgid, sticky) are set.
        f = { fd: openSync(tmp, 'wx', t.mode & 0o777), tmp, size: 0 };
      }
      for (const c of t.chunks) {
        const p = chunk(c);
        if (!Buffer.isBuffer(p)) throw new ChunkFailure(p.message, req.ids[c]);
        if (t.sparse) {
          writeSparse(f.fd, p, f.size);
          f.size += p.length;
          wrote += p.length;
          continue;
        }
        for (let off = 0; off < p.length; ) off += writeSync(f.fd, p, off, p.length - off, f.size + off);
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
      if (t.sparse) ftruncateSync(f.fd, f.size);
      const mode = t.mode & 0o7777;
      // Owner first: a chown clears setuid/setgid, which the fchmod then sets (special bits always fchmod).
      if (t.owner) giveAway(f.fd, t.owner);
      if (!windows && ((mode & 0o777 & umask) !== 0 || mode & 0o7000)) fchmodSync(f.fd, mode);
      futimesSync(f.fd, t.mtime, t.mtime);
      closeSync(f.fd);
      f.fd = -1;
      const dest = fsPath(t.dest);
      try {
        // rename replaces a file or a symlink at dest (never following it); a folder in the way makes it fail.
        renameSync(f.tmp, dest);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || (windows && code === 'EPERM' && isDir(dest))) {
          throw new Error(`refusing to restore "${showName(t.dest)}": a folder is in the way of a file`);
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

port.on('message', (req: UnitRequest | { t: 'close' }) => {
  if (req.t === 'close') {
    for (const f of openFiles.values()) discard(f);
    openFiles.clear();
    port.postMessage({ t: 'closed' } satisfies WorkerReply);
    return;
  }
  const reply = runUnit(req);
  // The unit's buffer goes back for reuse.
  port.postMessage(reply, [reply.buf]);
  collect();
});
