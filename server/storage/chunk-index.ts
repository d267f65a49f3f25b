// A device's chunk index without holding it whole in memory. index.log (append-only, crash-safe, shared by
// every server process on the data folder) stays the truth; this is a cache of it in the shape of a small
// log-structured merge tree: new entries in a bounded in-memory table, flushed to sorted runs on disk
// (sorted-run.ts), merged when they pile up. A manifest names the runs, how far into index.log they reach and
// a SHA-256 of that prefix: a log that no longer matches (edited, restored from backup) is read again from the
// start. Each server process keeps its own runs (index.sorted/<pid>-<random>/); a later process adopts the
// folder of one that is gone, so a restart reads only the log's tail.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { processAlive } from '../../common/process-alive.js';
import { KEY_BYTES, RunCursor, RunWriter, SortedRun, sortedKeys, type Location } from './sorted-run.js';

export type { Location } from './sorted-run.js';

const INDEX_LINE = /^([0-9a-f]{16,128}) ([A-Za-z0-9._-]+\.pack) (\d+) (\d+)$/;
/** The log is read in pieces of this size (~14,000 lines: startup, rebuilds, other processes' lines). */
const READ_PIECE = 1024 * 1024;
const SORTED_DIR = 'index.sorted';
const MANIFEST = 'manifest.json';

export interface ChunkIndexLimits {
  /** A device's in-memory table is written to a run at this many entries. */
  flushEntries: number;
  /** All devices' in-memory tables together: above this the biggest one is flushed. */
  totalEntries: number;
}

/** ~200 bytes per in-memory entry: ~3 MiB per device at most, ~25 MiB for all devices together. */
export const DEFAULT_INDEX_LIMITS: ChunkIndexLimits = { flushEntries: 16_384, totalEntries: 131_072 };

/** Shared by every index of a process: keeps the sum of the in-memory tables bounded. */
export class MemtableBudget {
  private readonly indexes = new Set<ChunkIndex>();
  total = 0;

  constructor(readonly limits: ChunkIndexLimits = DEFAULT_INDEX_LIMITS) {}

  add(index: ChunkIndex): void {
    this.indexes.add(index);
  }

  remove(index: ChunkIndex): void {
    this.indexes.delete(index);
  }

  /** Called after entries were added: flushes the biggest tables while the total is over the limit. */
  check(): void {
    if (this.total <= this.limits.totalEntries) return;
    let biggest: ChunkIndex | undefined;
    for (const ix of this.indexes) if (!biggest || ix.memEntries > biggest.memEntries) biggest = ix;
    biggest?.requestFlush();
  }
}

const defaultBudget = new MemtableBudget();

interface Manifest {
  v: 1;
  runs: string[];
  /** index.log bytes the runs cover, and the SHA-256 of those bytes. */
  logEnd: number;
  logSha256: string;
}

/** Folders of this process's open indexes: never adopted by another index opened in this process. */
const foldersInUse = new Set<string>();

export class ChunkIndex {
  private mem = new Map<string, Location>();
  private frozen: Map<string, Location> | undefined;
  private runs: SortedRun[] = [];
  private memBytes = 0;
  private frozenBytes = 0;
  /** index.log bytes read (or written by this process and skipped) and their running hash. */
  private logRead = 0;
  private logHash: Hash = createHash('sha256');
  private reader: FileHandle | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private maintaining: Promise<void> = Promise.resolve();
  private flushWanted = false;
  /** How far into index.log the runs reach (as the manifest says). */
  private covered = { logEnd: 0, logSha256: '' };
  private closed = false;
  /** Pack names are few: one string each instead of one per entry. */
  private readonly packNames = new Map<string, string>();

  private constructor(
    private readonly logPath: string,
    private readonly folder: string,
    private readonly budget: MemtableBudget,
  ) {}

  /** Opens the index of the device folder `dir` (its index.log), adopting or rebuilding the sorted runs. */
  static async open(dir: string, budget: MemtableBudget = defaultBudget): Promise<ChunkIndex> {
    const { folder, adopted } = await claimFolder(join(dir, SORTED_DIR));
    const ix = new ChunkIndex(join(dir, 'index.log'), folder, budget);
    budget.add(ix);
    try {
      if (adopted) await ix.load();
      await ix.refresh();
    } catch (err) {
      await ix.close();
      throw err;
    }
    return ix;
  }

  get count(): number {
    return this.runs.reduce((n, r) => n + r.count, 0) + this.mem.size + (this.frozen?.size ?? 0);
  }

  get bytes(): number {
    return this.runs.reduce((n, r) => n + r.bytes, 0) + this.memBytes + this.frozenBytes;
  }

  /** Changes whenever entries are added: a lookup that missed is worth repeating only after a change. */
  generation = 0;

  get memEntries(): number {
    return this.mem.size;
  }

  /** Where each id is stored (undefined: not in the index as read so far). */
  async lookup(ids: string[]): Promise<Array<Location | undefined>> {
    const out: Array<Location | undefined> = new Array(ids.length).fill(undefined);
    const missing: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const loc = this.mem.get(ids[i]) ?? this.frozen?.get(ids[i]);
      if (loc) out[i] = loc;
      else missing.push(i);
    }
    const runs = this.runs;
    if (missing.length === 0 || runs.length === 0) return out;
    const { keys, order } = sortedKeys(missing.map((i) => ids[i]));
    await Promise.all(
      runs.map((run) =>
        run.lookup(keys, order, (j, loc) => {
          out[missing[j]] ??= loc;
        }),
      ),
    );
    return out;
  }

  /**
   * Reads index lines appended since the last read (another process's, or this one's that could not be
   * skipped). Refreshes run one at a time: two overlapping ones would read the same bytes.
   */
  refresh(): Promise<void> {
    return this.inOrder(() => this.readNewLines());
  }

  /** Runs `step` after every refresh and own-line step queued before it. */
  private inOrder(step: () => Promise<void> | void): Promise<void> {
    this.queued++;
    const next = this.refreshing.then(step).finally(() => this.queued--);
    this.refreshing = next.catch(() => undefined);
    return next;
  }

  /** Refreshes and own-line steps queued or running. */
  private queued = 0;

  /**
   * This process appended `text` (index lines of `entries`) at `at`: the entries count at once. The bytes are
   * skipped by later refreshes only when nobody else appended before or during the write.
   */
  addOwn(entries: Array<[string, Location]>, at: number, text: string, sizeAfter: number): void {
    const skip = () => {
      const written = Buffer.byteLength(text, 'latin1');
      if (at === this.logRead && sizeAfter === at + written) {
        this.logHash.update(text, 'latin1');
        this.logRead = at + written;
      }
    };
    // Nothing reading the log right now: account for the lines at once, so a flush that follows covers them.
    if (this.queued === 0) skip();
    else void this.inOrder(skip);
    this.insert(entries);
  }

  /**
   * Waits while the in-memory table is over twice its flush size (a flood of new chunks faster than runs are
   * written): the caller's request waits instead of memory growing. Throws when flushing keeps failing.
   */
  async roomForMore(): Promise<void> {
    const limit = 2 * this.budget.limits.flushEntries;
    while (this.mem.size >= limit && !this.closed) {
      this.requestFlush();
      this.flushError = undefined;
      await this.maintaining;
      if (this.flushError && this.mem.size >= limit) throw this.flushError;
    }
  }

  private flushError: Error | undefined;

  /** Entries known not to be in the index yet (first location wins when one slips in twice). */
  private insert(entries: Array<[string, Location]>): void {
    if (entries.length) this.generation++;
    let added = 0;
    for (const [id, loc] of entries) {
      if (this.mem.has(id) || this.frozen?.has(id)) continue;
      loc.pack = this.packName(loc.pack);
      this.mem.set(id, loc);
      this.memBytes += loc.length;
      added++;
    }
    this.budget.total += added;
    if (this.mem.size >= this.budget.limits.flushEntries) this.requestFlush();
    else if (added) this.budget.check();
  }

  private packName(name: string): string {
    let s = this.packNames.get(name);
    if (s === undefined) {
      s = name;
      this.packNames.set(name, s);
    }
    return s;
  }

  private async logReader(): Promise<FileHandle | undefined> {
    try {
      this.reader ??= await open(this.logPath, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return this.reader;
  }

  private async readNewLines(): Promise<void> {
    const fh = await this.logReader();
    if (!fh) return;
    // fstat on the open reader is a few microseconds; an async stat() per lookup was ~0.25 s per 1.5 GB backup.
    const size = fstatSync(fh.fd).size;
    while (this.logRead < size && !this.closed) {
      const from = this.logRead;
      const buf = Buffer.allocUnsafe(Math.min(READ_PIECE, size - from));
      const { bytesRead } = await fh.read(buf, 0, buf.length, from);
      const end = buf.lastIndexOf(0x0a, bytesRead - 1);
      if (end < 0) {
        // A line longer than a piece is not an index line: skip it whole (a torn tail waits for its newline).
        if (bytesRead < READ_PIECE) break;
        const skip = buf.subarray(0, bytesRead);
        this.logHash.update(skip);
        this.logRead = from + bytesRead;
        continue;
      }
      const candidates: Array<[string, Location]> = [];
      for (const line of buf.toString('latin1', 0, end).split('\n')) {
        const m = INDEX_LINE.exec(line);
        if (m) candidates.push([m[1], { pack: m[2], offset: Number(m[3]), length: Number(m[4]) }]);
      }
      const known = await this.lookup(candidates.map((c) => c[0]));
      this.insert(candidates.filter((_, i) => known[i] === undefined));
      this.logHash.update(buf.subarray(0, end + 1));
      this.logRead = from + end + 1;
      // Reading a long log (a rebuild): write runs as we go instead of holding it all.
      if (this.mem.size >= this.budget.limits.flushEntries) await this.maintaining;
    }
  }

  /** Starts writing the in-memory table to a run (at most one flush at a time; requests meanwhile coalesce). */
  requestFlush(): void {
    if (this.flushWanted || this.closed) return;
    this.flushWanted = true;
    this.maintaining = this.maintaining.then(async () => {
      this.flushWanted = false;
      // Also after close() began: it asked for this flush (or one was due anyway) and waits for it.
      if (this.mem.size === 0) return;
      try {
        await this.flush();
        await this.mergeIfNeeded();
      } catch (err) {
        // A failed flush keeps the entries in memory (the next request tries again); the log is the truth.
        this.flushError = err as Error;
      }
    });
  }

  private async flush(): Promise<void> {
    const frozen = this.mem;
    this.frozen = frozen;
    this.frozenBytes = this.memBytes;
    this.mem = new Map();
    this.memBytes = 0;
    // The budget counts live tables only: a frozen one is on its way to disk.
    this.budget.total -= frozen.size;
    const covered = { logEnd: this.logRead, logSha256: this.logHash.copy().digest('hex') };
    try {
      const ids = [...frozen.keys()];
      const locs = [...frozen.values()];
      const { keys, order } = sortedKeys(ids);
      await mkdir(this.folder, { recursive: true });
      const writer = await RunWriter.create(join(this.folder, runName()), ids.length);
      try {
        for (const i of order) {
          if (writer.full) await writer.writePage();
          writer.add(keys, i * KEY_BYTES, locs[i]);
        }
        await writer.finish();
      } catch (err) {
        await writer.abort();
        throw err;
      }
      const run = await SortedRun.open(writer.path);
      await this.writeManifest([...this.runs, run], covered);
      this.runs = [...this.runs, run];
      this.covered = covered;
    } catch (err) {
      // Back into the live table: nothing is lost.
      for (const [id, loc] of frozen) {
        if (this.mem.has(id)) continue;
        this.mem.set(id, loc);
        this.memBytes += loc.length;
        this.budget.total++;
      }
      throw err;
    } finally {
      this.frozen = undefined;
      this.frozenBytes = 0;
    }
  }

  /**
   * Keeps runs few: merges the newest two while the older is at most twice the newer, so each run is more than
   * twice the next (at most ~log2 of the entries, and each entry rewritten ~log2 times), and never more than 12.
   */
  private async mergeIfNeeded(): Promise<void> {
    while (this.runs.length >= 2 && !this.closed) {
      const n = this.runs.length;
      if (this.runs[n - 2].count > 2 * this.runs[n - 1].count && n <= 12) return;
      const inputs = this.runs.slice(n - 2);
      const merged = await mergeRuns(inputs, join(this.folder, runName()));
      const next = [...this.runs.slice(0, n - 2), merged];
      await this.writeManifest(next, this.covered);
      this.runs = next;
      for (const r of inputs) r.retire();
    }
  }

  private async readManifest(): Promise<Manifest | undefined> {
    try {
      const m = JSON.parse(await readFile(join(this.folder, MANIFEST), 'utf8')) as Manifest;
      return m.v === 1 && Array.isArray(m.runs) ? m : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeManifest(runs: SortedRun[], covered: { logEnd: number; logSha256: string }): Promise<void> {
    const m: Manifest = { v: 1, runs: runs.map((r) => r.path.slice(this.folder.length + 1)), ...covered };
    await writeFileAtomic(join(this.folder, MANIFEST), JSON.stringify(m));
  }

  /** Opens the runs the manifest names when the log still starts with the bytes they were built from. */
  private async load(): Promise<void> {
    const manifest = await this.readManifest();
    const keep = new Set(manifest ? [MANIFEST, ...manifest.runs] : []);
    if (manifest && (await this.logPrefixMatches(manifest))) {
      try {
        for (const name of manifest.runs) this.runs.push(await SortedRun.open(join(this.folder, name)));
      } catch {
        keep.clear();
      }
    } else keep.clear();
    if (keep.size === 0) {
      // Rebuild from the log's start.
      for (const r of this.runs) await r.close();
      this.runs = [];
      this.logRead = 0;
      this.logHash = createHash('sha256');
      this.covered = { logEnd: 0, logSha256: '' };
    }
    for (const name of await readdir(this.folder)) if (!keep.has(name)) await rm(join(this.folder, name), { force: true, recursive: true });
  }

  /** Hashes index.log up to the manifest's logEnd; on a match the running hash continues from there. */
  private async logPrefixMatches(m: Manifest): Promise<boolean> {
    const fh = await this.logReader();
    if (!fh || fstatSync(fh.fd).size < m.logEnd) return m.logEnd === 0 && m.runs.length === 0;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(READ_PIECE, Math.max(1, m.logEnd)));
    for (let at = 0; at < m.logEnd; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, m.logEnd - at), at);
      if (bytesRead === 0) return false;
      hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    if (hash.copy().digest('hex') !== m.logSha256) return false;
    this.logHash = hash;
    this.logRead = m.logEnd;
    this.covered = { logEnd: m.logEnd, logSha256: m.logSha256 };
    return true;
  }

  async close(): Promise<void> {
    // Own lines written last are accounted for first (addOwn), so the manifest can say how far the runs reach.
    await this.refreshing.catch(() => undefined);
    // A big table is written now so the next start does not read its lines again; small ones are not worth
    // a run file each (many devices, each a few lines: a restart reads them quickly).
    if (this.mem.size >= this.budget.limits.flushEntries / 8) this.requestFlush();
    const flushed = this.maintaining;
    this.closed = true;
    await flushed.catch(() => undefined);
    await this.refreshing.catch(() => undefined);
    // Everything read is in the runs: the next start reads the log from here on.
    if (this.mem.size === 0 && this.runs.length > 0 && this.covered.logEnd < this.logRead)
      await this.writeManifest(this.runs, { logEnd: this.logRead, logSha256: this.logHash.copy().digest('hex') }).catch(() => undefined);
    this.budget.total -= this.mem.size;
    this.mem = new Map();
    this.budget.remove(this);
    await Promise.all(this.runs.map((r) => r.close()));
    this.runs = [];
    await this.reader?.close().catch(() => undefined);
    this.reader = undefined;
    foldersInUse.delete(this.folder);
  }
}

function runName(): string {
  return `run-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}.idx`;
}

/** Merges runs (oldest first) into one; a key in several keeps its oldest location. */
async function mergeRuns(inputs: SortedRun[], path: string): Promise<SortedRun> {
  const live: RunCursor[] = [];
  for (const run of inputs) {
    const c = new RunCursor(run);
    if (c.needsFill) await c.fill();
    if (c.advance()) live.push(c);
  }
  const writer = await RunWriter.create(
    path,
    inputs.reduce((n, r) => n + r.count, 0),
  );
  try {
    while (live.length) {
      // Few inputs (two, rarely more), oldest first: a linear scan for the smallest key beats a heap.
      let min = 0;
      for (let i = 1; i < live.length; i++) {
        const c = live[i];
        const m = live[min];
        if (c.buf.compare(m.buf, m.at, m.at + KEY_BYTES, c.at, c.at + KEY_BYTES) < 0) min = i;
      }
      const head = live[min];
      if (writer.full) await writer.writePage();
      writer.add(head.buf, head.at, head.location());
      // Every cursor at this key moves on (duplicates are dropped); the head last, its page holds the key.
      for (let i = live.length - 1; i >= 0; i--) {
        const c = live[i];
        if (c === head || c.buf.compare(head.buf, head.at, head.at + KEY_BYTES, c.at, c.at + KEY_BYTES) !== 0) continue;
        if (c.needsFill) await c.fill();
        if (!c.advance()) live.splice(i, 1);
      }
      if (head.needsFill) await head.fill();
      if (!head.advance()) live.splice(live.indexOf(head), 1);
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return SortedRun.open(path);
}

function alive(pid: number): boolean {
  return pid !== process.pid && processAlive(pid);
}

/**
 * A folder of sorted runs for this index: one left by a process that is gone (adopted by renaming it, so two
 * processes cannot take the same one), else the name of a new one, made at the first flush (most devices never
 * need one). Folders of gone processes that are not adopted are deleted.
 */
async function claimFolder(root: string): Promise<{ folder: string; adopted: boolean }> {
  const folder = join(root, `${process.pid}-${randomBytes(4).toString('hex')}`);
  let names: string[];
  try {
    names = (await readdir(root)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') names = [];
    else throw err;
  }
  let adopted = false;
  for (const name of names) {
    const path = join(root, name);
    const pid = Number(/^(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
    if (!pid || foldersInUse.has(path) || alive(pid)) continue;
    if (!adopted) {
      try {
        await rename(path, folder);
        adopted = true;
        continue;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
    }
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
  foldersInUse.add(folder);
  return { folder, adopted };
}
