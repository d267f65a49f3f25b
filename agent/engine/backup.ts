// Backup: walk, skip what the change cache knows, chunk+seal the rest on worker threads (one per core),
// ask the store which chunks it lacks in large batches, upload only those, then store the sealed snapshot.
import { availableParallelism, hostname } from 'node:os';
import type { ChunkStore, StoredChunk } from '../store.js';
import { ChangeCache } from './change-cache.js';
import {
  ChunkWorkerPool,
  type ChunkBatch,
  type ChunkJob,
  type ChunkWorker,
  type KnownIds,
  type RangeJob,
  type ReadStat,
  type ScanBounds,
  type ScanJob,
} from './chunk-worker.js';
import { LARGE_FILE_BYTES, LargeFile } from './large-file.js';
import { deriveKeys } from './keys.js';
import { compilePatterns } from './patterns.js';
import { newSnapshotId } from './snapshot.js';
import { commitSnapshot } from './snapshot-commit.js';
import { matchCache, planSnapshot, type FileOutcome } from './snapshot-delta.js';
import { walkAsync, type RootSpec, type WalkEntry } from './walker.js';
import { leanHeap } from './lean-heap.js';
import { escapeForTerminal } from '../../common/terminal-text.js';
import { fsPath, showName } from './names.js';
import { type SkippedPath, skipReason } from './skipped.js';
import { readXattrs } from './xattrs.js';
import { resolve } from 'node:path';

export interface BackupProgress {
  phase: 'scan' | 'backup' | 'snapshot' | 'done';
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
  /** Sealed bytes sent to the store (new chunks only). */
  bytesUploaded: number;
}

export interface BackupOptions {
  store: ChunkStore;
  deviceKey: Uint8Array;
  /** Folders to back up (absolute or ~), optionally with their name inside snapshots. */
  roots: RootSpec[];
  /** Glob patterns to skip. */
  exclude?: string[];
  /** A ready exclusion test (the guard's, which keeps protected paths); used instead of `exclude`. */
  isExcluded?: (portable: string) => boolean;
  /** Change cache file; without it every file is read. */
  cachePath?: string;
  /** Worker threads (default: one per core). */
  threads?: number;
  onProgress?: (p: BackupProgress) => void;
  /** Called with paths that could not be read (the backup continues without them). */
  onWarning?: (message: string) => void;
}

export interface BackupResult {
  snapshotId: string;
  time: string;
  files: number;
  dirs: number;
  /** Plaintext bytes of all files in the snapshot. */
  bytes: number;
  /** Files read and chunked (the rest came from the change cache). */
  filesRead: number;
  filesCached: number;
  bytesRead: number;
  chunksUploaded: number;
  bytesUploaded: number;
  warnings: string[];
  /**
   * Files that kept changing while they were read (every read saw another change): stored as last read, which may
   * mix versions, and read again by the next backup. Paths as walked (names in the form of names.ts).
   */
  changedDuringBackup: string[];
  /** Paths not backed up (could not be walked or read), with a reason each: all of them. */
  skipped: SkippedPath[];
  /** Extended attributes: the tool that read them (null: none recorded, e.g. getfattr not installed), entries having some. */
  xattrs: { tool: string | null; entries: number };
  durationMs: number;
}

const JOB_FILES = 64;
const JOB_BYTES = 8 * 1024 * 1024;
const FLUSH_BYTES = 2 * 1024 * 1024;
const FLUSH_CHUNKS = 1024;
const MAX_FLUSHES = 2;
const INFLIGHT_LIMIT_KIB = 6 * 1024;

/** A worker's batch buffer: given back to the worker when none of its chunks wait for the store any more. */
interface BatchRef {
  buf: ArrayBuffer;
  worker: ChunkWorker;
  waiting: number;
}

interface PendingChunk extends StoredChunk {
  from: BatchRef;
}

interface PendingFile {
  entry: WalkEntry;
  ids: string[];
  bytesRead: number;
}

/** Up to this many bytes to read, one chunk worker: chunking them takes about as long as starting a second one. */
const ONE_WORKER_BYTES = 4 * 1024 * 1024;

export async function backupFolders(opts: BackupOptions): Promise<BackupResult> {
  leanHeap();
  const started = Date.now();
  const keys = deriveKeys(opts.deviceKey);
  const store = opts.store;
  const progress: BackupProgress = { phase: 'scan', filesTotal: 0, filesDone: 0, bytesTotal: 0, bytesDone: 0, bytesUploaded: 0 };
  let lastReport = 0;
  const report = (force = false): void => {
    if (!opts.onProgress) return;
    const now = Date.now();
    if (!force && now - lastReport < 250) return;
    lastReport = now;
    opts.onProgress({ ...progress });
  };
  report(true);

  let cache = opts.cachePath ? ChangeCache.load(opts.cachePath) : ChangeCache.empty();
  // A cache describing a snapshot the store does not list (other server, lost data) would skip uploads wrongly.
  // Asked before the walk, so connecting to the server overlaps with it.
  const listing = cache.snapshotId ? store.listSnapshots() : undefined;
  listing?.catch(() => undefined);

  // A first backup boots its workers while the tree is walked. An incremental one starts them only once it knows
  // there is something to read: most scheduled backups find nothing changed, and a worker booting on the other
  // core cost them ~25 ms wall and ~55 ms CPU (measured, 20,000 files).
  const defaultThreads = Math.max(1, Math.min(opts.threads ?? availableParallelism(), 16));
  const pool = new ChunkWorkerPool(keys, INFLIGHT_LIMIT_KIB);
  if (!cache.snapshotId) pool.warm(defaultThreads);
  try {
    // One getfattr for all roots, beside the walk (xattrs.ts).
    const xattrReading = readXattrs(opts.roots.map((r) => resolve(typeof r === 'string' ? r : r.path)));
    const walked = await walkAsync(opts.roots, opts.isExcluded ?? (opts.exclude?.length ? compilePatterns(opts.exclude) : undefined));
    const xattrs = await xattrReading;
    let xattrEntries = 0;
    for (const e of walked.entries) {
      const x = xattrs.byPath.get(e.source);
      if (x) {
        e.xattrs = x;
        xattrEntries++;
      }
    }
    walked.warnings.push(...xattrs.warnings);
    for (const w of walked.warnings) opts.onWarning?.(w);
    if (listing && !(await listing).some((s) => s.id === cache.snapshotId)) cache = ChangeCache.empty();
    const cacheIdx = matchCache(cache, walked);
    progress.phase = 'backup';

    const entries = walked.entries;
    const cached = new Uint8Array(entries.length);
    const warnings = [...walked.warnings];
    const skipped = [...walked.skipped];
    const toRead: WalkEntry[] = [];
    let bytesToRead = 0;
    const previous = new Map<WalkEntry, string>();
    for (let j = 0; j < entries.length; j++) {
      const f = entries[j];
      if (f.type !== 'file') continue;
      progress.filesTotal++;
      progress.bytesTotal += f.size;
      const i = cacheIdx[j];
      if (f.size === 0 || (i >= 0 && cache.unchanged(i, f.size, f.mtimeMs, f.ino))) {
        cached[j] = 1;
        progress.filesDone++;
        progress.bytesDone += f.size;
      } else {
        toRead.push(f);
        bytesToRead += f.size;
        if (i >= 0 && f.size >= LARGE_FILE_BYTES && cache.type(i) === 'f') previous.set(f, cache.dataOf(i));
      }
    }
    const filesCached = progress.filesTotal - toRead.length;
    report(true);

    const read = new Map<WalkEntry, FileOutcome>();
    const changedDuringBackup: string[] = [];
    let chunksUploaded = 0;
    let bytesRead = 0;
    if (toRead.length > 0) {
      // Starting a worker costs more than chunking a few MiB: small changes get one.
      const threads = opts.threads === undefined && bytesToRead <= ONE_WORKER_BYTES ? 1 : defaultThreads;
      const r = await chunkAndUpload(
        toRead,
        pool,
        store,
        threads,
        (f, done) => {
          if (done.error) {
            const warning = `${showName(f.source)}: ${escapeForTerminal(done.error, false)}`;
            warnings.push(warning);
            skipped.push({ path: f.source, reason: skipReason(done.error) });
            opts.onWarning?.(warning);
          } else {
            const stat = done.stat && { mtime: done.stat[0], mtimeMs: done.stat[1], ino: done.stat[2] };
            read.set(f, { ids: done.ids.join(''), bytesRead: done.bytesRead, changed: done.changed, stat });
            bytesRead += done.bytesRead;
            if (done.changed) {
              changedDuringBackup.push(f.source);
              const warning = `${showName(f.source)}: changed during backup (stored as last read; the next backup reads it again)`;
              warnings.push(warning);
              opts.onWarning?.(warning);
            }
          }
          progress.filesDone++;
          progress.bytesDone += f.size;
          report();
        },
        (bytes) => {
          progress.bytesUploaded += bytes;
          report();
        },
        previous,
      );
      chunksUploaded = r.chunksUploaded;
    }

    progress.phase = 'snapshot';
    report(true);
    const now = new Date();
    const plan = planSnapshot(cache, walked, cacheIdx, cached, read, {
      id: newSnapshotId(now),
      time: now.toISOString(),
      host: hostname(),
      platform: process.platform,
    });
    await commitSnapshot(store, keys, plan.snapshot);
    // Same entries as the cached snapshot: the cache (and the snapshot it names) still says it all.
    if (opts.cachePath && !plan.unchanged) plan.saveCache(opts.cachePath);
    progress.phase = 'done';
    report(true);
    return {
      snapshotId: plan.snapshot.id,
      time: plan.snapshot.time,
      files: plan.files,
      dirs: plan.dirs,
      bytes: plan.bytes,
      filesRead: toRead.length,
      filesCached,
      bytesRead,
      chunksUploaded,
      bytesUploaded: progress.bytesUploaded,
      warnings,
      changedDuringBackup,
      skipped,
      xattrs: { tool: xattrs.tool, entries: xattrEntries },
      durationMs: Date.now() - started,
    };
  } finally {
    await pool.close();
  }
}

interface FileDone {
  ids: string[];
  bytesRead: number;
  /** Every read of it saw the file change. */
  changed?: boolean;
  stat?: ReadStat;
  error?: string;
}

/** Run the files through the chunk workers; upload chunks the store lacks. Resolves when all are stored. */
function chunkAndUpload(
  files: WalkEntry[],
  pool: ChunkWorkerPool,
  store: ChunkStore,
  threads: number,
  onFile: (f: WalkEntry, done: FileDone) => void,
  onUploaded: (bytes: number) => void,
  /** Chunk ids (hex, concatenated) of large files' versions in the last snapshot: those chunks are not sealed again. */
  previous?: Map<WalkEntry, string>,
): Promise<{ chunksUploaded: number }> {
  const inflight = new Int32Array(pool.inflight);
  const workers: ChunkWorker[] = [];
  const outstanding: number[] = [];
  // A large file's scan job has `large`; its range jobs have `large` and `range` (their index in the file).
  const jobs: Array<{ files: WalkEntry[]; state: PendingFile[]; doneCount: number; large?: LargeFile; range?: number }> = [];
  const ranges: Array<{ large: LargeFile; job: Omit<RangeJob, 'job'> & { index: number } }> = [];
  /** Large files that changed while split: chunked again as a whole, like any file. */
  const again: WalkEntry[] = [];
  let nextFile = 0;
  let filesLeft = files.length;
  const queued = new Set<string>(); // ids already pending or stored in this run
  let pending: PendingChunk[] = [];
  let pendingBytes = 0;
  let pendingKiB = 0;
  let flushes = 0;
  let hasChain: Promise<unknown> = Promise.resolve();
  let chunksUploaded = 0;
  let failed = false;

  return new Promise((resolve, reject) => {
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      for (const w of workers) void w.worker.terminate();
      reject(err);
    };
    const finishIfDone = (): void => {
      if (failed || filesLeft > 0 || flushes > 0 || pending.length > 0 || pendingKiB > 0) return;
      Promise.all(workers.map((w) => w.worker.terminate())).then(() => resolve({ chunksUploaded }), fail);
    };
    const flush = (): void => {
      if (failed || flushes >= MAX_FLUSHES) return;
      const chunks = pending;
      const kib = pendingKiB;
      pending = [];
      pendingBytes = 0;
      pendingKiB = 0;
      flushes++;
      (async () => {
        if (chunks.length > 0) {
          // One HAS at a time (uploads still overlap): cheap, and gentler on servers that re-read their index.
          const asked = hasChain.then(() => store.has(chunks.map((c) => c.id)));
          hasChain = asked.catch(() => undefined);
          const have = await asked;
          const missing = chunks.filter((c) => !have.has(c.id));
          if (missing.length > 0) await store.put(missing.map(({ id, data }) => ({ id, data })));
          chunksUploaded += missing.length;
          onUploaded(missing.reduce((n, c) => n + c.data.byteLength, 0));
        }
      })().then(
        () => {
          for (const c of chunks) release(c.from);
          flushes--;
          Atomics.sub(inflight, 0, kib);
          Atomics.notify(inflight, 0);
          maybeFlush();
          finishIfDone();
        },
        (err) => fail(err),
      );
    };
    const release = (ref: BatchRef): void => {
      if (--ref.waiting === 0 && !failed) ref.worker.recycle(ref.buf);
    };
    const maybeFlush = (): void => {
      const allRead = filesLeft === 0;
      if (pendingBytes >= FLUSH_BYTES || pending.length >= FLUSH_CHUNKS || (allRead && (pending.length > 0 || pendingKiB > 0))) flush();
    };
    const isLarge = (f: WalkEntry): boolean => threads > 1 && f.size >= LARGE_FILE_BYTES;
    const dispatch = (wi: number): void => {
      while (outstanding[wi] < 2 && (ranges.length > 0 || again.length > 0 || nextFile < files.length)) {
        const range = ranges.shift();
        if (range) {
          const job = jobs.length;
          const { index, ...msg } = range.job;
          jobs.push({
            files: [range.large.entry],
            state: [{ entry: range.large.entry, ids: [], bytesRead: 0 }],
            doneCount: 0,
            large: range.large,
            range: index,
          });
          outstanding[wi]++;
          workers[wi].worker.postMessage({ ...msg, job } satisfies RangeJob);
          continue;
        }
        if (again.length === 0 && isLarge(files[nextFile])) {
          const entry = files[nextFile++];
          const job = jobs.length;
          const ids = previous?.get(entry);
          // Every worker may get a range of it: each learns the ids of the version stored last (the key is the job).
          if (ids) for (const w of workers) w.worker.postMessage({ type: 'known', key: job, ids } satisfies KnownIds);
          jobs.push({ files: [entry], state: [], doneCount: 0, large: new LargeFile(entry, ids ? job : undefined) });
          outstanding[wi]++;
          const msg: ScanJob = {
            type: 'scan',
            job,
            file: { path: fsPath(entry.source), size: entry.size, mtimeMs: entry.mtimeMs, ctimeMs: entry.ctimeMs, ino: entry.ino },
          };
          workers[wi].worker.postMessage(msg);
          continue;
        }
        const group: WalkEntry[] = [];
        let bytes = 0;
        if (again.length > 0) group.push(again.shift()!);
        else
          while (
            nextFile < files.length &&
            group.length < JOB_FILES &&
            (group.length === 0 || (bytes + files[nextFile].size <= JOB_BYTES && !isLarge(files[nextFile])))
          ) {
            bytes += files[nextFile].size;
            group.push(files[nextFile++]);
          }
        const job = jobs.length;
        jobs.push({ files: group, state: group.map((entry) => ({ entry, ids: [], bytesRead: 0 })), doneCount: 0 });
        outstanding[wi]++;
        const msg: ChunkJob = {
          type: 'job',
          job,
          files: group.map((f) => ({ path: fsPath(f.source), size: f.size, mtimeMs: f.mtimeMs, ctimeMs: f.ctimeMs, ino: f.ino })),
        };
        workers[wi].worker.postMessage(msg);
      }
    };
    const onBatch = (wi: number, b: ChunkBatch): void => {
      if (failed) return;
      const job = jobs[b.job];
      const ref: BatchRef = { buf: b.buf, worker: workers[wi], waiting: 1 };
      let added = 0;
      for (const [file, id, off, len] of b.chunks) {
        if (id === '') {
          job.state[file].ids = []; // read again from its start (it changed while it was read)
          continue;
        }
        job.state[file].ids.push(id);
        // Length 0: a chunk of the version in the last snapshot (stored), not sealed again.
        if (len === 0 || queued.has(id)) continue;
        queued.add(id);
        const data = new Uint8Array(b.buf, off, len);
        pending.push({ id, data, from: ref });
        ref.waiting++;
        added += len;
      }
      release(ref);
      pendingBytes += added;
      // The worker counted the whole batch as in flight; chunks already queued are released at once.
      const batchKiB = Math.ceil(b.used / 1024);
      const keptKiB = Math.min(batchKiB, Math.ceil(added / 1024));
      pendingKiB += keptKiB;
      if (batchKiB > keptKiB) {
        Atomics.sub(inflight, 0, batchKiB - keptKiB);
        Atomics.notify(inflight, 0);
      }
      for (const [file, bytesRead, error, stat, changed] of b.done) {
        const st = job.state[file];
        job.doneCount++;
        if (job.large && job.range !== undefined) {
          job.large.onRange(job.range, st.ids, error === null && !changed);
          settle(job.large);
          continue;
        }
        onFile(st.entry, { ids: st.ids, bytesRead, error: error ?? undefined, changed, stat: stat ?? undefined });
        filesLeft--;
      }
      if (job.doneCount === job.files.length && job.state.length > 0) {
        outstanding[wi]--;
        job.state = [];
        dispatch(wi);
      }
      maybeFlush();
      finishIfDone();
    };
    /** A large file whose scan and ranges are all done is reported (or chunked again as a whole if it changed). */
    const settle = (large: LargeFile): void => {
      const outcome = large.outcome();
      if (!outcome) return;
      if (large.known !== undefined) for (const w of workers) w.worker.postMessage({ type: 'known', key: large.known } satisfies KnownIds);
      if ('again' in outcome) {
        again.push(large.entry);
        for (let i = 0; i < workers.length; i++) dispatch(i);
        return;
      }
      if ('error' in outcome) onFile(large.entry, { ids: [], bytesRead: 0, error: outcome.error });
      else onFile(large.entry, { ids: outcome.ids, bytesRead: outcome.bytesRead, stat: outcome.stat });
      filesLeft--;
    };
    const onBounds = (wi: number, m: ScanBounds): void => {
      if (failed) return;
      const large = jobs[m.job].large!;
      for (const job of large.onBounds(m)) ranges.push({ large, job });
      if (m.done) outstanding[wi]--;
      for (let i = 0; i < workers.length; i++) dispatch(i);
      settle(large);
      maybeFlush();
      finishIfDone();
    };
    let taken: ChunkWorker[];
    try {
      taken = pool.take(threads);
    } catch (err) {
      fail(err);
      return;
    }
    for (let i = 0; i < threads; i++) {
      const w = taken[i];
      workers.push(w);
      outstanding.push(0);
      w.worker.on('message', (m: ChunkBatch | ScanBounds) => (m.type === 'bounds' ? onBounds(i, m) : onBatch(i, m)));
      w.worker.on('error', fail);
      w.worker.on('exit', (code) => {
        if (code !== 0 && !failed && filesLeft > 0) fail(new Error(`chunk worker exited with code ${code}`));
      });
    }
    for (let i = 0; i < threads; i++) dispatch(i);
  });
}
