// Restore ("Heal"): a whole snapshot or a subpath, to the original place or into another folder.
// Every chunk is authenticated (GCM tag, then keyed id) before a byte of it is written; each file is written
// under a temporary name (O_EXCL, so never through a symlink) and renamed into place only when complete.
// Snapshot names that would leave the target ("..", absolute, drive letters) are refused before anything
// is written, and no directory that is a symlink is ever written through.
//
// Pipeline: the main thread plans units (~4 MiB of small files, or a part of a big file), keeps many GETs in
// flight (bounded by bytes), and hands each fetched unit to a restore worker (restore-worker.ts), which
// authenticates the chunks and writes the files itself.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, lchownSync, linkSync, lstatSync, mkdirSync, renameSync, symlinkSync, unlinkSync, utimesSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { ChunkMissingError, type ChunkLease, type ChunkStore } from '../store.js';
import { deriveKeys } from './keys.js';
import { leanHeap } from './lean-heap.js';
import { RestoreWorkerPool, type FileTask, type UnitResult } from './restore-worker.js';
import { portablePath, isSameOrInside } from './patterns.js';
import { splitIds } from './change-cache.js';
import { fsPath, showName, temporaryBeside } from './names.js';
import { utimeTime } from './times.js';
import { loadSnapshot, type Snapshot, type SnapshotEntry } from './snapshot.js';
import { writeXattrs, type XattrSkip, type XattrTarget } from './xattrs.js';

export interface RestoreProgress {
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
}

export interface RestoreOptions {
  store: ChunkStore;
  deviceKey: Uint8Array;
  /** "latest" or a snapshot id (a unique prefix is enough). */
  snapshot: string;
  /** Only this part: "<root name>/<path>" as in the snapshot, or an original absolute path. */
  subpath?: string;
  /** Restore into this folder (as <target>/<root name>/...); without it, to the original place. */
  target?: string;
  /** Restore worker threads (default: os.availableParallelism()). */
  workers?: number;
  /** Whose files they become (default: defaultOwner()). */
  owner?: OwnerChoice;
  onProgress?: (p: RestoreProgress) => void;
}

/**
 * `original`: restored files get the owner and group they had at backup (snapshots from format 5 on; the service,
 * running as root, restores users' files as theirs). `me`: they belong to the user who restores. Not applied on
 * Windows (owners and ACLs are not in snapshots yet).
 */
export const OWNER_CHOICES = ['original', 'me'] as const;
export type OwnerChoice = (typeof OWNER_CHOICES)[number];

/** Original owners when running as root (only root may give files away), else the restoring user. */
export function defaultOwner(): OwnerChoice {
  return process.getuid?.() === 0 ? 'original' : 'me';
}

/** The owner and group to give an entry, or undefined (keep the restoring user's). */
function ownerOf(e: SnapshotEntry, choice: OwnerChoice): [number, number] | undefined {
  if (choice !== 'original' || windows || e[6] === undefined || e[7] === undefined || e[6] < 0) return undefined;
  return [e[6], e[7]];
}

export interface RestoreResult {
  snapshotId: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** Extended attributes not restored (only root may set them, or the file system refused): entry, names, why. */
  xattrsSkipped: XattrSkip[];
  durationMs: number;
}

/** A snapshot entry whose name would leave the restore target. */
export class PathEscapeError extends Error {
  constructor(
    readonly entryPath: string,
    reason: string,
  ) {
    super(`refusing to restore "${showName(entryPath)}": ${reason}`);
    this.name = 'PathEscapeError';
  }
}

export interface FileFailure {
  path: string;
  chunkId?: string;
  message: string;
}

/** How a failure reads in RestoreError's message (names escaped: nothing raw reaches a terminal). */
function failureLine(f: FileFailure): string {
  return f.message.startsWith('refusing to restore') ? f.message : `${showName(f.path)}: ${f.message}`;
}

/** Some files could not be restored (the others were). Nothing wrong was written in their place. */
export class RestoreError extends Error {
  constructor(
    readonly failures: FileFailure[],
    readonly result: RestoreResult,
  ) {
    const shown = failures
      .slice(0, 10)
      .map((f) => `  ${failureLine(f)}`)
      .join('\n');
    const more = failures.length > 10 ? `\n  ... and ${failures.length - 10} more` : '';
    super(`${failures.length} file(s) could not be restored:\n${shown}${more}`);
    this.name = 'RestoreError';
  }
}

/** Small files are fetched together: a unit closes at this many plaintext bytes or files. */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_FILES = 256;
/** Files above this size are fetched in parts of PART_CHUNKS chunks (~4 MiB), all on one worker, in order. */
const BIG_FILE = 8 * 1024 * 1024;
const PART_CHUNKS = 4;
/** Plaintext bytes (estimated from file sizes) fetched or being fetched and not yet written: bounds memory. */
const IN_FLIGHT_BYTES = 16 * 1024 * 1024;
/** GET requests outstanding at once (the server serves 16 per connection at a time). */
const MAX_REQUESTS = 6;

const windows = process.platform === 'win32';

/**
 * The names of a snapshot path, or why it may not be restored: it must stay below its root, so no absolute path or
 * drive letter, no "", "." or ".." name, no NUL; on Windows no "\\" or ":" in a name either (there they would be
 * separators or a drive; on macOS and Linux they are ordinary characters).
 */
function checkName(entryPath: string, rootNames: Set<string>): string[] | PathEscapeError {
  if (isAbsolute(entryPath) || entryPath.startsWith('/') || /^[A-Za-z]:/.test(entryPath)) return new PathEscapeError(entryPath, 'absolute path');
  const parts = entryPath.split('/');
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') return new PathEscapeError(entryPath, `path component ${JSON.stringify(p)}`);
    if (p.includes('\0')) return new PathEscapeError(entryPath, 'NUL in a name');
    if (windows && p.includes('\\')) return new PathEscapeError(entryPath, 'backslash in a name (a folder separator on Windows)');
    if (windows && p.includes(':')) return new PathEscapeError(entryPath, 'colon in a name');
  }
  if (!rootNames.has(parts[0])) return new PathEscapeError(entryPath, 'not under a root of the snapshot');
  return parts;
}

/**
 * `join(rootDir, ...parts.slice(1))` for names checkName() accepted (nothing to normalise), as one flat string:
 * path.join builds each path as a chain of small strings, which for 20,000 files kept ~5 MiB on the heap
 * during a restore.
 */
function below(rootDir: string, parts: string[]): string {
  if (parts.length === 1) return rootDir;
  const rest = parts.slice(1);
  return (rootDir.endsWith(sep) ? [rootDir.slice(0, -1), ...rest] : [rootDir, ...rest]).join(sep);
}

/** Map a --path argument to a snapshot path. */
export function snapshotSubpath(snap: Pick<Snapshot, 'roots'>, subpath: string): string {
  // A backslash separates folders only on Windows; elsewhere it is a character of a name.
  const pathForm = (p: string): string => (windows ? portablePath(p) : resolve(p));
  const trimmed = (windows ? subpath.replace(/\\/g, '/') : subpath).replace(/\/+$/, '');
  for (const r of snap.roots) {
    const root = pathForm(r.path);
    if (isAbsolute(subpath) && isSameOrInside(pathForm(subpath), root)) {
      return r.name + pathForm(subpath).slice(root.length);
    }
  }
  return trimmed.replace(/^\/+/, '');
}

export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreResult> {
  leanHeap();
  const started = Date.now();
  const asked = opts.owner ?? defaultOwner();
  if (!OWNER_CHOICES.includes(asked)) throw new Error(`owner: ${JSON.stringify(asked)} is not one of ${OWNER_CHOICES.join(', ')}`);
  const keys = deriveKeys(opts.deviceKey);
  const snap = await loadSnapshot(opts.store, keys, opts.snapshot);
  // A Windows snapshot's uid/gid are lstat's zeros, not owners.
  const owner: OwnerChoice = snap.platform === 'win32' ? 'me' : asked;
  const rootNames = new Set(snap.roots.map((r) => r.name));
  const rootByName = new Map(snap.roots.map((r) => [r.name, r.path]));

  let selected = snap.entries;
  if (opts.subpath) {
    const sub = snapshotSubpath(snap, opts.subpath);
    selected = snap.entries.filter((e) => e[0] === sub || e[0].startsWith(`${sub}/`));
    if (selected.length === 0)
      throw new Error(`snapshot ${snap.id} has nothing at ${JSON.stringify(opts.subpath)} (paths look like "${snap.roots[0]?.name ?? 'Documents'}/...")`);
  }

  // Every name is checked before anything is written; an entry that may not be restored is refused on its own
  // (reported, nothing written for it) and never stops the others.
  const failures: FileFailure[] = [];
  const base = opts.target ? resolve(opts.target) : undefined;
  const rootDirs = new Map<string, string>();
  const placed: Array<{ entry: SnapshotEntry; dest: string; base: string }> = [];
  for (const e of selected) {
    const parts = checkName(e[0], rootNames);
    let problem = parts instanceof PathEscapeError ? parts.message : undefined;
    if (e[1] === 'f' && (typeof e[5] !== 'string' || !/^(?:[0-9a-f]{64})*$/.test(e[5]))) problem ??= `snapshot ${snap.id}: malformed chunk list`;
    if (e[1] === 'l' && typeof e[5] !== 'string') problem ??= `snapshot ${snap.id}: malformed symlink`;
    if (problem !== undefined || parts instanceof PathEscapeError) {
      failures.push({ path: e[0], message: problem! });
      continue;
    }
    let rootDir = rootDirs.get(parts[0]);
    if (rootDir === undefined) {
      rootDir = base ? join(base, parts[0]) : join(rootByName.get(parts[0])!);
      rootDirs.set(parts[0], rootDir);
    }
    placed.push({ entry: e, dest: below(rootDir, parts), base: base ?? rootDir });
  }

  const verified = new Set<string>();
  /** Create a directory chain below `top`, refusing to pass through anything that is not a real directory. */
  const ensureDir = (top: string, dir: string): void => {
    if (verified.has(dir)) return;
    mkdirSync(top, { recursive: true });
    // Only the separator splits: "\\" is an ordinary character in a macOS or Linux name.
    const rel = dir.slice(top.length).split(sep).filter(Boolean);
    let cur = top;
    for (const part of rel) {
      cur = cur.endsWith(sep) ? cur + part : cur + sep + part;
      if (verified.has(cur)) continue;
      const at = fsPath(cur);
      let st;
      try {
        st = lstatSync(at);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        mkdirSync(at);
        st = lstatSync(at);
      }
      if (st.isSymbolicLink()) throw new PathEscapeError(cur, 'a symlink is in the way (restore never writes through symlinks)');
      if (!st.isDirectory()) throw new PathEscapeError(cur, 'a file is in the way of a folder');
      verified.add(cur);
    }
  };

  const dirs = placed.filter((d) => {
    if (d.entry[1] !== 'd') return false;
    try {
      ensureDir(d.base, d.dest);
      return true;
    } catch (err) {
      failures.push({ path: d.dest, message: (err as Error).message });
      return false;
    }
  });
  const files = placed.filter((p) => p.entry[1] === 'f');
  const links = placed.filter((p) => p.entry[1] === 'l');

  const progress: RestoreProgress = { filesTotal: files.length, filesDone: 0, bytesTotal: 0, bytesDone: 0 };
  for (const f of files) progress.bytesTotal += f.entry[4];
  let lastReport = 0;
  const report = (force = false): void => {
    if (!opts.onProgress) return;
    const now = Date.now();
    if (force || now - lastReport >= 250) {
      lastReport = now;
      opts.onProgress({ ...progress });
    }
  };
  report(true);

  let filesFailed = 0;
  const jobs: FileJob[] = [];
  for (const f of files) {
    try {
      ensureDir(f.base, dirname(f.dest));
      const o = ownerOf(f.entry, owner);
      jobs.push({ key: jobs.length, dest: f.dest, entry: f.entry, owner: o, written: 0, failed: false, worker: undefined, nextPart: 0, held: undefined });
    } catch (err) {
      failures.push({ path: f.dest, message: (err as Error).message });
      filesFailed++;
      progress.filesDone++;
      progress.bytesDone += f.entry[4];
    }
  }

  const pool = new RestoreWorkerPool(keys, opts.workers);
  try {
    await runPipeline(planUnits(jobs), new ChunkFetcher(opts.store), pool, {
      wrote(job, bytes) {
        job.written += bytes;
        progress.bytesDone += bytes;
        report();
      },
      done(job, failure) {
        if (failure) {
          failures.push({ path: job.dest, ...(failure.chunkId ? { chunkId: failure.chunkId } : {}), message: failure.message });
          filesFailed++;
        }
        progress.filesDone++;
        progress.bytesDone += job.entry[4] - job.written;
        report();
      },
    });
  } finally {
    await pool.close();
  }

  relinkHardLinks(jobs, failures);

  const withXattrs: XattrTarget[] = [];
  for (const j of jobs) if (!j.failed && j.entry[8]?.x) withXattrs.push({ path: j.dest, xattrs: j.entry[8].x, mode: j.entry[2] });
  for (const d of dirs) if (d.entry[8]?.x) withXattrs.push({ path: d.dest, xattrs: d.entry[8].x });

  let symlinks = 0;
  for (const l of links) {
    try {
      ensureDir(l.base, dirname(l.dest));
      const tmp = fsPath(temporaryBeside(l.dest, `l${randomBytes(6).toString('hex')}`));
      const dest = fsPath(l.dest);
      symlinkSync(fsPath(l.entry[5] as string), tmp);
      try {
        const o = ownerOf(l.entry, owner);
        if (o) lchownSync(tmp, o[0], o[1]);
        const st = lstatSync(dest, { throwIfNoEntry: false });
        if (st?.isDirectory()) throw new PathEscapeError(l.dest, 'a folder is in the way of a symlink');
        renameSync(tmp, dest);
      } catch (err) {
        unlinkSync(tmp);
        throw err;
      }
      symlinks++;
      if (l.entry[8]?.x) withXattrs.push({ path: l.dest, xattrs: l.entry[8].x });
    } catch (err) {
      failures.push({ path: l.dest, message: (err as Error).message });
    }
  }

  // Attributes after contents and owners (a chown clears security.capability), before folder modes: one setfattr.
  const xattrsSkipped = await writeXattrs(withXattrs);

  // Folder modes and times last (deepest first): writing inside would change them again.
  for (const d of [...dirs].reverse()) {
    try {
      const at = fsPath(d.dest);
      const time = utimeTime(d.entry[3]);
      const o = ownerOf(d.entry, owner);
      if (o) chownSync(at, o[0], o[1]);
      if (!windows) chmodSync(at, d.entry[2]);
      utimesSync(at, time, time);
    } catch (err) {
      failures.push({ path: d.dest, message: (err as Error).message });
    }
  }
  report(true);

  const result: RestoreResult = {
    snapshotId: snap.id,
    files: files.length - filesFailed,
    dirs: dirs.length,
    symlinks,
    bytes: progress.bytesDone,
    xattrsSkipped,
    durationMs: Date.now() - started,
  };
  if (failures.length > 0) throw new RestoreError(failures, result);
  return result;
}

/**
 * Names of one file at backup (same hard-link identity) become one file again: every name was restored as a copy
 * (so each stands alone if another fails), then each later name is replaced by a hard link to the first, the same
 * way a file is put in place (a link under a temporary name, renamed over). Across file systems they stay copies.
 */
function relinkHardLinks(jobs: FileJob[], failures: FileFailure[]): void {
  const first = new Map<string, FileJob>();
  for (const job of jobs) {
    const id = job.entry[8]?.h;
    if (id === undefined || job.failed) continue;
    const leader = first.get(id);
    if (!leader) {
      first.set(id, job);
      continue;
    }
    const tmp = fsPath(temporaryBeside(job.dest, `h${randomBytes(6).toString('hex')}`));
    try {
      linkSync(fsPath(leader.dest), tmp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV')
        failures.push({ path: job.dest, message: `hard link to "${showName(leader.dest)}": ${(err as Error).message}` });
      continue;
    }
    try {
      renameSync(tmp, fsPath(job.dest));
    } catch (err) {
      unlinkSync(tmp);
      failures.push({ path: job.dest, message: (err as Error).message });
    }
  }
}

/** A file to restore, and its progress through the pipeline. */
interface FileJob {
  key: number;
  dest: string;
  entry: SnapshotEntry;
  owner: [number, number] | undefined;
  /** Plaintext bytes the workers have written so far (progress). */
  written: number;
  failed: boolean;
  /** Big files: the worker their parts go to, the next part to hand over, parts that arrived early. */
  worker: number | undefined;
  nextPart: number;
  held: Map<number, { unit: Unit; chunks: FetchedChunks }> | undefined;
}

/** Work for one worker message: a batch of small files, or one part of a big file. */
interface Unit {
  ids: string[];
  files: Array<{ job: FileJob; chunks: number[]; first: boolean; last: boolean }>;
  /** Plaintext bytes, for the in-flight bound. */
  est: number;
  /** Big files: which part this is. */
  part?: number;
}

/**
 * Small files in batches of ~BATCH_BYTES; big files in parts of PART_CHUNKS chunks. Snapshot order is kept,
 * except that a file whose chunk list equals an earlier file's (a copy) rides in that file's units: its chunks
 * are fetched, authenticated and decompressed once and written to both files.
 */
function planUnits(jobs: FileJob[]): Unit[] {
  const units: Unit[] = [];
  let batch: Unit | undefined;
  let index = new Map<string, number>();
  /** Units of each file's chunk list, first file first: a later file with the same list joins them. */
  const placedBy = new Map<string, Unit[]>();
  const joinCopy = (job: FileJob, at: Unit[]): void => {
    for (const unit of at) {
      // Right after the file it copies (and its earlier copies), so the worker can drop the plaintext early.
      const first = unit.files.findIndex((f) => f.job.entry[5] === job.entry[5]);
      let pos = first + 1;
      while (pos < unit.files.length && unit.files[pos].job.entry[5] === job.entry[5]) pos++;
      const orig = unit.files[first];
      unit.files.splice(pos, 0, { job, chunks: orig.chunks, first: orig.first, last: orig.last });
    }
  };
  for (const job of jobs) {
    const list = job.entry[5] as string;
    const copyOf = list === '' ? undefined : placedBy.get(list);
    if (copyOf) {
      joinCopy(job, copyOf);
      continue;
    }
    const ids = splitIds(list);
    const size = job.entry[4];
    if (size > BIG_FILE && ids.length > PART_CHUNKS) {
      const parts = Math.ceil(ids.length / PART_CHUNKS);
      const mine: Unit[] = [];
      for (let p = 0; p < parts; p++) {
        const slice = ids.slice(p * PART_CHUNKS, (p + 1) * PART_CHUNKS);
        const unique = [...new Set(slice)];
        mine.push({
          ids: unique,
          files: [{ job, chunks: slice.map((id) => unique.indexOf(id)), first: p === 0, last: p === parts - 1 }],
          est: Math.ceil((size * slice.length) / ids.length),
          part: p,
        });
      }
      units.push(...mine);
      placedBy.set(list, mine);
      continue;
    }
    const b = (batch ??= { ids: [], files: [], est: 0 });
    const chunks = ids.map((id) => {
      let i = index.get(id);
      if (i === undefined) {
        i = b.ids.push(id) - 1;
        index.set(id, i);
      }
      return i;
    });
    b.files.push({ job, chunks, first: true, last: true });
    b.est += size;
    if (list !== '') placedBy.set(list, [b]);
    if (b.est >= BATCH_BYTES || b.files.length >= BATCH_FILES) {
      units.push(b);
      batch = undefined;
      index = new Map();
    }
  }
  if (batch) units.push(batch);
  return units;
}

interface PipelineSink {
  wrote(job: FileJob, bytes: number): void;
  done(job: FileJob, failure?: { message: string; chunkId?: string }): void;
}

/**
 * Fetches units ahead (up to IN_FLIGHT_BYTES / MAX_REQUESTS), and hands each one, as it arrives, to a worker:
 * a batch to the least busy one, a big file's parts in order to the worker that has its first part.
 * Resolves when every file has been reported done; rejects on a store error that is not about one chunk.
 */
function runPipeline(plan: Unit[], fetcher: ChunkFetcher, pool: RestoreWorkerPool, sink: PipelineSink): Promise<void> {
  const units: Array<Unit | undefined> = plan;
  let next = 0;
  let inFlight = 0;
  let requests = 0;
  let outstanding = 0;
  let stopped = false;
  return new Promise<void>((resolveAll, rejectAll) => {
    const fail = (err: unknown): void => {
      if (stopped) return;
      stopped = true;
      rejectAll(err);
    };
    const complete = (unit: Unit, r: UnitResult): void => {
      inFlight -= unit.est;
      outstanding--;
      unit.files.forEach((f, i) => {
        if (r.written[i] > 0) sink.wrote(f.job, r.written[i]);
      });
      const byKey = new Map(unit.files.map((f) => [f.job.key, f.job]));
      for (const key of r.ok) sink.done(byKey.get(key)!);
      for (const fl of r.failed) {
        const job = byKey.get(fl.key)!;
        job.failed = true;
        sink.done(job, fl);
      }
      pump();
    };
    const post = (unit: Unit, chunks: FetchedChunks, worker: number): void => {
      const files: FileTask[] = unit.files.map((f) => ({
        key: f.job.key,
        dest: f.job.dest,
        mode: f.job.entry[2],
        mtime: utimeTime(f.job.entry[3]),
        size: f.job.entry[4],
        ...(f.job.owner ? { owner: f.job.owner } : {}),
        ...(f.job.entry[8]?.s ? { sparse: true } : {}),
        chunks: f.chunks,
        first: f.first,
        last: f.last,
      }));
      pool.run({ ids: unit.ids, leases: chunks.leases, failed: chunks.failed, files }, worker).then((r) => complete(unit, r), fail);
    };
    const deliver = (unit: Unit, chunks: FetchedChunks): void => {
      if (stopped) {
        for (const lease of chunks.leases) lease.release();
        return;
      }
      if (unit.part === undefined) return post(unit, chunks, pool.pick());
      const job = unit.files[0].job;
      if (unit.part !== job.nextPart) {
        (job.held ??= new Map()).set(unit.part, { unit, chunks });
        return;
      }
      job.worker ??= pool.pick();
      post(unit, chunks, job.worker);
      job.nextPart++;
      const held = job.held?.get(job.nextPart);
      if (held) {
        job.held!.delete(job.nextPart);
        deliver(held.unit, held.chunks);
      }
    };
    const pump = (): void => {
      if (stopped) return;
      while (next < units.length && requests < MAX_REQUESTS && (inFlight === 0 || inFlight + units[next]!.est <= IN_FLIGHT_BYTES)) {
        const unit = units[next]!;
        // Started units leave the plan, so what they hold can be collected once they are done.
        units[next++] = undefined;
        // The rest of a big file that already failed (with its copies) is not fetched (its worker has dropped them).
        if (unit.part !== undefined && unit.files.every((f) => f.job.failed)) continue;
        inFlight += unit.est;
        outstanding++;
        if (unit.ids.length === 0) {
          deliver(unit, { leases: [], failed: new Map() });
          continue;
        }
        requests++;
        fetcher.fetch(unit.ids).then((chunks) => {
          requests--;
          deliver(unit, chunks);
          pump();
        }, fail);
      }
      if (next >= units.length && outstanding === 0) {
        stopped = true;
        resolveAll();
      }
    };
    pump();
  });
}

/** A unit's sealed chunks: the leases they came in, and the ids that could not be fetched (with the message). */
interface FetchedChunks {
  leases: ChunkLease[];
  failed: Map<string, string>;
}

/**
 * Fetches chunks (sealed); a chunk the store does not have becomes a failure of its id only. Any other error
 * (servers unreachable, a refused credential, a lost connection that could not be resumed) is not about one
 * chunk: it rejects, and the restore stops with it.
 */
class ChunkFetcher {
  constructor(private readonly store: ChunkStore) {}

  async fetch(ids: string[]): Promise<FetchedChunks> {
    const out: FetchedChunks = { leases: [], failed: new Map() };
    if (ids.length === 0) return out;
    try {
      out.leases.push(await this.store.get(ids));
      return out;
    } catch (err) {
      if (!(err instanceof ChunkMissingError)) throw err;
      if (ids.length === 1) {
        out.failed.set(ids[0], err.message);
        return out;
      }
    }
    // Find out which ids are missing, one by one.
    try {
      for (const id of ids) {
        const one = await this.fetch([id]);
        out.leases.push(...one.leases);
        for (const [k, v] of one.failed) out.failed.set(k, v);
      }
    } catch (err) {
      for (const lease of out.leases) lease.release();
      throw err;
    }
    return out;
  }
}
