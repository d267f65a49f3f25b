// One device's storage: chunks appended to pack files, located by an append-only index log.
// A chunk exists once its index line is on disk; the pack bytes are fsynced before the line is written,
// so after kill -9 or power loss the index never points at missing data (torn tails are ignored).
// Several server processes may share a data folder (a primary and an alternate): each writes its own
// pack files and re-reads the shared index log when asked for an id it does not know yet. Lookups go through
// chunk-index.ts, which keeps the index on disk (sorted runs) with only a bounded part in memory.
import { fstatSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { SnapshotEntry } from '../../protocol/messages.js';
import { ChunkIndex, type Location, type MemtableBudget } from './chunk-index.js';
import { afterIndexAppend, recoverInterruptedSweep } from './prune-swap.js';
import { pruneEpoch } from './prune-state.js';

interface PendingPut {
  ids: string[];
  /** The chunks' bytes, or where they were already written (a streamed PUT body, back to back in `sizes`). */
  data: Buffer[] | { region: PackRegion; sizes: number[] };
  resolve: (r: { stored: number; duplicates: number }) => void;
  reject: (e: Error) => void;
}

const PACK_LIMIT = 1024 * 1024 * 1024;
const MAX_OPEN_PACKS = 16;

/** A pack file this process appends to; `size` includes regions handed out and not yet written. */
interface OpenPack {
  name: string;
  fh: FileHandle;
  size: number;
  /** Regions handed out and not yet released. */
  users: number;
  /** No longer appended to (full, or the store closed): closed once its last region is released. */
  retired: boolean;
}

/**
 * Bytes set aside at the end of a pack file for a body that arrives in pieces (a streamed PUT): written at their
 * place as they come, then committed with put() like any chunk (fsynced before the index line). Nothing points
 * at a region that was never committed; a torn PUT leaves unindexed bytes in the pack, like a crash does.
 */
export class PackRegion {
  private released = false;

  constructor(
    private readonly packFile: OpenPack,
    readonly offset: number,
    readonly length: number,
    private readonly onRelease: (p: OpenPack) => void,
  ) {}

  get pack(): string {
    return this.packFile.name;
  }

  /** Writes `data` at `at` bytes into the region. */
  async write(data: Buffer, at: number): Promise<void> {
    if (at < 0 || at + data.length > this.length) throw new Error(`write of ${data.length} bytes at ${at} runs past a region of ${this.length}`);
    await writeAt(this.packFile.fh, [data], this.offset + at);
  }

  async sync(): Promise<void> {
    await this.packFile.fh.datasync();
  }

  /** Done with the region (committed or abandoned); its pack may be closed. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this.packFile);
  }
}

export class DeviceStore {
  private index!: ChunkIndex;
  private otherBytes = 0;
  private queue: PendingPut[] = [];
  private flushing = false;
  private pack: Promise<OpenPack> | undefined;
  private indexFh: FileHandle | undefined;
  private readers = new Map<string, { fh: Promise<FileHandle>; users: number }>();
  private budget: MemtableBudget | undefined;
  /** Indexes a prune replaced: closed with the store (a lookup may still be reading one). */
  private retired: ChunkIndex[] = [];
  /** Streamed-PUT regions handed out and not yet released, and who waits for them or for new ones (a sweep). */
  private regionsOut = 0;
  private regionWaiters: Array<() => void> = [];
  private reservationsHeld = false;
  private reservationWaiters: Array<() => void> = [];
  /** While a prune is marked: every id a HAS found or a PUT sent (the sweep keeps them; server/storage/prune-sweep.ts). */
  touched: Set<string> | undefined;

  private constructor(readonly dir: string) {}

  /** `budget`: bounds the in-memory part of the chunk indexes sharing it (default: one per process). */
  static async open(dir: string, budget?: MemtableBudget): Promise<DeviceStore> {
    const s = new DeviceStore(dir);
    await Promise.all(['packs', 'snapshots', 'blobs'].map((d) => mkdir(join(dir, d), { recursive: true })));
    s.budget = budget;
    await recoverInterruptedSweep(dir);
    s.index = await ChunkIndex.open(dir, budget);
    s.otherBytes = (await sumSizes(join(dir, 'snapshots'), (n) => n.endsWith('.snap'))) + (await sumSizes(join(dir, 'blobs'), (n) => !n.startsWith('.')));
    return s;
  }

  get storedBytes(): number {
    return this.index.bytes + this.otherBytes;
  }

  get chunkCount(): number {
    return this.index.count;
  }

  /**
   * Where each id is stored. Ids not found send the index to read lines another process (the alternate server
   * on the same data folder) appended since, then are looked up once more.
   */
  private async find(ids: string[]): Promise<Array<Location | undefined>> {
    const generation = this.index.generation;
    const found = await this.index.lookup(ids);
    const missing: number[] = [];
    for (let i = 0; i < ids.length; i++) if (!found[i]) missing.push(i);
    if (missing.length === 0) return found;
    await this.index.refresh();
    if (this.index.generation === generation) return found;
    const again = await this.index.lookup(missing.map((i) => ids[i]));
    missing.forEach((i, j) => {
      found[i] = again[j];
    });
    return found;
  }

  async has(ids: string[]): Promise<boolean[]> {
    const present = (await this.find(ids)).map((l) => l !== undefined);
    if (this.touched) for (let i = 0; i < ids.length; i++) if (present[i]) this.touched.add(ids[i]);
    return present;
  }

  /**
   * Stores chunks durably; concurrent calls are committed together (one fsync pair per group). `data` may be a
   * region (reserve()) the chunks were written to, back to back with the given sizes; the caller releases it after.
   */
  put(ids: string[], data: PendingPut['data']): Promise<{ stored: number; duplicates: number }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ids, data, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length) {
      const group = this.queue.splice(0);
      try {
        const results = await this.commit(group);
        group.forEach((p, i) => {
          p.resolve(results[i]);
        });
      } catch (err) {
        for (const p of group) p.reject(err as Error);
      }
    }
    this.flushing = false;
  }

  private async commit(group: PendingPut[]): Promise<Array<{ stored: number; duplicates: number }>> {
    await this.index.roomForMore();
    const known = new Set<string>();
    const asked = group.flatMap((p) => p.ids);
    if (this.touched) for (const id of asked) this.touched.add(id);
    (await this.find(asked)).forEach((loc, i) => {
      if (loc) known.add(asked[i]);
    });
    // New chunks: bytes still to write, or where a streamed body already put them.
    const fresh = new Map<string, Buffer | Location>();
    const regions = new Set<PackRegion>();
    const results = group.map((p) => {
      let stored = 0;
      let duplicates = 0;
      let at = Array.isArray(p.data) ? 0 : p.data.region.offset;
      p.ids.forEach((id, i) => {
        const data = p.data;
        const chunk = Array.isArray(data) ? data[i] : { pack: data.region.pack, offset: at, length: data.sizes[i] };
        if (!Array.isArray(data)) at += data.sizes[i];
        if (known.has(id) || fresh.has(id)) duplicates++;
        else {
          fresh.set(id, chunk);
          if (!Array.isArray(data)) regions.add(data.region);
          stored++;
        }
      });
      return { stored, duplicates };
    });
    if (fresh.size === 0) return results;

    const located: Array<[string, Location]> = [];
    const bufs: Array<[string, Buffer]> = [];
    for (const [id, chunk] of fresh) {
      if (Buffer.isBuffer(chunk)) bufs.push([id, chunk]);
      else located.push([id, chunk]);
    }
    const regionPerPack = new Map<string, PackRegion>();
    for (const r of regions) regionPerPack.set(r.pack, r);
    const syncs = [...regionPerPack.values()].map((r) => r.sync());
    if (bufs.length > 0) {
      const pack = await this.currentPack();
      // Counted before the write, so a region reserved meanwhile starts after these bytes.
      let offset = pack.size;
      for (const [id, buf] of bufs) {
        located.push([id, { pack: pack.name, offset, length: buf.length }]);
        offset += buf.length;
      }
      const at = pack.size;
      pack.size = offset;
      pack.users++;
      try {
        await writeAt(
          pack.fh,
          bufs.map(([, b]) => b),
          at,
        );
        syncs.push(pack.fh.datasync());
        await Promise.all(syncs);
      } finally {
        this.releasePack(pack);
      }
    } else await Promise.all(syncs);
    const lines = located.map(([id, loc]) => `${id} ${loc.pack} ${loc.offset} ${loc.length}\n`);

    const indexFh = await this.indexHandle();
    // A torn line left by a crash must not swallow our first line.
    const { size } = await indexFh.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await (await this.indexReader()).read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    const text = prefix + lines.join('');
    await indexFh.write(text, null, 'latin1');
    await indexFh.datasync();
    const sizeAfter = fstatSync(indexFh.fd).size;
    // A prune in another process may have replaced index.log meanwhile: our lines then go to the new one too.
    const moved = await afterIndexAppend(this.dir, indexFh, text);
    if (moved) {
      this.indexFh = moved;
      await indexFh.close();
      await this.indexReaderFh?.close().catch(() => undefined);
      this.indexReaderFh = undefined;
    }
    // Our own lines count at once; the index skips re-reading them only when no other process appended
    // before or during our write (the file then ends exactly where ours does).
    this.index.addOwn(located, size, text, sizeAfter);
    return results;
  }

  /** The pack appended to now; a full one is retired (closed once no region of it is in use) for a new one. */
  private async currentPack(): Promise<OpenPack> {
    const current = this.pack && (await this.pack);
    if (current && !current.retired && current.size < PACK_LIMIT) return current;
    if (current && this.pack) {
      this.pack = undefined;
      current.retired = true;
      this.releasePack(current, 0);
    }
    this.pack ??= (async () => {
      const name = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}.pack`;
      // Written at explicit offsets (regions are filled out of order), so not opened for appending.
      const fh = await open(join(this.dir, 'packs', name), 'wx', 0o600);
      return { name, fh, size: 0, users: 0, retired: false };
    })();
    this.pack.catch(() => (this.pack = undefined));
    return this.pack;
  }

  /** Sets aside `length` bytes at the end of the current pack for a body that arrives in pieces (see PackRegion). */
  async reserve(length: number): Promise<PackRegion> {
    while (this.reservationsHeld) await new Promise<void>((r) => this.reservationWaiters.push(r));
    this.regionsOut++;
    let pack: OpenPack;
    try {
      pack = await this.currentPack();
    } catch (err) {
      this.regionDone();
      throw err;
    }
    const region = new PackRegion(pack, pack.size, length, (p) => {
      this.releasePack(p);
      this.regionDone();
    });
    pack.size += length;
    pack.users++;
    return region;
  }

  private regionDone(): void {
    this.regionsOut--;
    if (this.regionsOut === 0) for (const wake of this.regionWaiters.splice(0)) wake();
  }

  private releasePack(pack: OpenPack, count = 1): void {
    pack.users -= count;
    if (pack.retired && pack.users === 0) void pack.fh.close().catch(() => undefined);
  }

  private async indexHandle(): Promise<FileHandle> {
    this.indexFh ??= await open(join(this.dir, 'index.log'), 'a', 0o600);
    return this.indexFh;
  }

  private indexReaderFh: FileHandle | undefined;
  private async indexReader(): Promise<FileHandle> {
    this.indexReaderFh ??= await open(join(this.dir, 'index.log'), 'r');
    return this.indexReaderFh;
  }

  /**
   * Where the chunks of a GET reply are, in order (stopping before maxBytes, at least one), or the first
   * missing id. With readInto(), the server reads a reply straight into the buffer it sends.
   */
  async locate(ids: string[], maxBytes: number): Promise<{ locs: Location[] } | { missing: string }> {
    const found = await this.find(ids);
    const locs: Location[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const loc = found[i];
      if (!loc) return { missing: ids[i] };
      if (locs.length > 0 && total + loc.length > maxBytes) break;
      locs.push(loc);
      total += loc.length;
    }
    this.locatedIds.set(locs, ids.slice(0, locs.length));
    return { locs };
  }

  /** The ids of each locate() answer: a read that finds its pack gone looks them up again. */
  private readonly locatedIds = new WeakMap<Location[], string[]>();

  /**
   * Reads located chunks back to back into `into` from `at`; neighbours in one pack come in one read. A pack deleted
   * since locate() (a prune moved its chunks; their bytes are unchanged) sends the ids to the index once more.
   */
  async readInto(locs: Location[], into: Buffer, at: number): Promise<void> {
    try {
      await this.readLocated(locs, into, at);
    } catch (err) {
      const ids = this.locatedIds.get(locs);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !ids) throw err;
      await pruneEpoch(this);
      const again = await this.find(ids);
      if (again.some((l, i) => l?.length !== locs[i].length)) throw err;
      await this.readLocated(again as Location[], into, at);
    }
  }

  private async readLocated(locs: Location[], into: Buffer, at: number): Promise<void> {
    for (let i = 0; i < locs.length; ) {
      const first = locs[i];
      let length = first.length;
      let j = i + 1;
      while (j < locs.length && locs[j].pack === first.pack && locs[j].offset === first.offset + length) length += locs[j++].length;
      await this.readRange(first.pack, first.offset, length, into, at);
      at += length;
      i = j;
    }
  }

  private async readRange(pack: string, offset: number, length: number, into: Buffer, at: number): Promise<void> {
    let reader = this.readers.get(pack);
    if (!reader) {
      this.evictIdleReaders();
      reader = { fh: open(join(this.dir, 'packs', pack), 'r'), users: 0 };
      this.readers.set(pack, reader);
      reader.fh.catch(() => this.readers.delete(pack));
    }
    reader.users++;
    try {
      const fh = await reader.fh;
      const { bytesRead } = await fh.read(into, at, length, offset);
      if (bytesRead !== length) throw new Error(`pack ${pack} is shorter than its index says`);
    } finally {
      reader.users--;
    }
  }

  /** Keeps at most MAX_OPEN_PACKS pack files open, closing only ones no read is using. */
  private evictIdleReaders(): void {
    for (const [name, r] of this.readers) {
      if (this.readers.size < MAX_OPEN_PACKS) return;
      if (r.users > 0) continue;
      this.readers.delete(name);
      void r.fh.then((fh) => fh.close()).catch(() => undefined);
    }
  }

  /**
   * Runs `work` while no commit runs or starts: PUTs queue meanwhile. The current pack is retired first (closed once
   * no region of it is in use). With `drainRegions` (a prune's sweep, which may rewrite or delete any of this
   * process's packs) no new region for a streamed PUT body is handed out and those out are committed or given up
   * first, so `work` never touches a pack a body is landing in. Without it (reloading the index after another
   * process's sweep) regions stay out: a PUT whose body is landing may itself be what asked for the reload.
   */
  async withCommitsPaused<T>(work: () => Promise<T>, opts: { drainRegions?: boolean } = {}): Promise<T> {
    if (!opts.drainRegions) return this.pausingCommits(work);
    while (this.reservationsHeld) await new Promise<void>((r) => this.reservationWaiters.push(r));
    this.reservationsHeld = true;
    try {
      while (this.regionsOut > 0) await new Promise<void>((r) => this.regionWaiters.push(r));
      return await this.pausingCommits(work);
    } finally {
      this.reservationsHeld = false;
      for (const wake of this.reservationWaiters.splice(0)) wake();
    }
  }

  private async pausingCommits<T>(work: () => Promise<T>): Promise<T> {
    while (this.flushing) await new Promise((r) => setImmediate(r));
    this.flushing = true;
    try {
      const pack = await this.pack?.catch(() => undefined);
      this.pack = undefined;
      if (pack) {
        pack.retired = true;
        this.releasePack(pack, 0);
      }
      return await work();
    } finally {
      this.flushing = false;
      if (this.queue.length) void this.flush();
    }
  }

  /** index.log was replaced (a prune): read the new one; the `gone` packs (default: every open one) are not read again. */
  async reopenIndex(gone: string[] = [...this.readers.keys()]): Promise<void> {
    const next = await ChunkIndex.open(this.dir, this.budget);
    this.retired.push(this.index);
    this.index = next;
    for (const fh of [this.indexFh, this.indexReaderFh]) await fh?.close().catch(() => undefined);
    this.indexFh = undefined;
    this.indexReaderFh = undefined;
    for (const name of gone) {
      const r = this.readers.get(name);
      this.readers.delete(name);
      void r?.fh.then((fh) => fh.close()).catch(() => undefined);
    }
    // Older replaced indexes have had a whole sweep's time to finish their lookups.
    for (const old of this.retired.splice(0, this.retired.length - 1)) await old.close();
  }

  /** Deletes a snapshot (FORGET): its .json first, so a crash leaves at most an unlisted .snap. */
  async deleteSnapshot(id: string): Promise<boolean> {
    const base = join(this.dir, 'snapshots', id);
    const size = await stat(`${base}.snap`).then(
      (st) => st.size,
      () => 0,
    );
    try {
      await rm(`${base}.json`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await rm(`${base}.snap`, { force: true });
    this.otherBytes -= size;
    return true;
  }

  async putSnapshot(id: string, time: string, data: Buffer): Promise<void> {
    const base = join(this.dir, 'snapshots', id);
    await writeFileAtomic(`${base}.snap`, data);
    await writeFileAtomic(`${base}.json`, JSON.stringify({ id, time, size: data.length }));
    this.otherBytes += data.length;
  }

  async hasSnapshot(id: string): Promise<boolean> {
    return stat(join(this.dir, 'snapshots', `${id}.json`)).then(
      () => true,
      () => false,
    );
  }

  async getSnapshot(id: string): Promise<Buffer | undefined> {
    try {
      await stat(join(this.dir, 'snapshots', `${id}.json`));
      return await readFile(join(this.dir, 'snapshots', `${id}.snap`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async listSnapshots(): Promise<SnapshotEntry[]> {
    const names = (await readdir(join(this.dir, 'snapshots'))).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    const entries = await Promise.all(names.map(async (n) => JSON.parse(await readFile(join(this.dir, 'snapshots', n), 'utf8')) as SnapshotEntry));
    return entries.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  }

  async putBlob(name: string, data: Buffer): Promise<void> {
    await writeFileAtomic(join(this.dir, 'blobs', name), data);
    this.otherBytes += data.length;
  }

  async getBlob(name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(join(this.dir, 'blobs', name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.index.close();
    for (const old of this.retired.splice(0)) await old.close();
    const pack = await this.pack?.catch(() => undefined);
    if (pack) {
      pack.retired = true;
      this.releasePack(pack, 0);
    }
    const handles: Array<Promise<FileHandle> | FileHandle | undefined> = [this.indexFh, this.indexReaderFh, ...[...this.readers.values()].map((r) => r.fh)];
    this.pack = undefined;
    this.indexFh = undefined;
    this.indexReaderFh = undefined;
    this.readers.clear();
    await Promise.all(handles.map(async (h) => (await h)?.close().catch(() => undefined)));
  }
}

/** Writes `bufs` back to back from file offset `at`. */
async function writeAt(fh: FileHandle, bufs: Buffer[], at: number): Promise<void> {
  // writev takes at most IOV_MAX (1024) buffers per call on Linux.
  for (let i = 0; i < bufs.length; i += 512) {
    const slice = bufs.slice(i, i + 512);
    const want = slice.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await fh.writev(slice, at);
    if (bytesWritten < want) {
      // Short write (rare, e.g. disk nearly full): finish the remainder.
      const rest = Buffer.concat(slice).subarray(bytesWritten);
      for (let off = 0; off < rest.length; ) off += (await fh.write(rest, off, rest.length - off, at + bytesWritten + off)).bytesWritten;
    }
    at += want;
  }
}

async function sumSizes(dir: string, keep: (name: string) => boolean): Promise<number> {
  const names = (await readdir(dir)).filter(keep);
  const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, n))).size));
  return sizes.reduce((a, b) => a + b, 0);
}
