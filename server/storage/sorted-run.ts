// One sorted run of a device's chunk index on disk: fixed-width records sorted by key, with a small summary
// the server keeps in memory (the key of every SUMMARY_EVERY-th record, and a Bloom filter of ~1.25 bytes per
// key so most absent keys cost no read). Lookups read only the blocks their keys fall in. Runs are immutable:
// written once (temp file, fsync, rename), merged into bigger ones, then deleted.
//
//   records   count × 48 bytes: key (33) | 0 | pack index u32 | offset u48 | length u32   (big-endian)
//   summary   ceil(count / SUMMARY_EVERY) × 33 bytes
//   bloom     bloomBytes: BLOOM_BITS_PER_KEY bits per key, BLOOM_PROBES probes
//   trailer   JSON {v, count, bytes, bloomBytes, packs} | u32 JSON length | "HFRUN1\n\0"
import { createHash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir } from '../../common/fs-atomic.js';

export interface Location {
  pack: string;
  offset: number;
  length: number;
}

export const KEY_BYTES = 33;
export const RECORD_BYTES = 48;
/** One summary key per block of this many records: a lookup reads one 3 KiB block per run. */
export const SUMMARY_EVERY = 64;
const BLOCK_BYTES = SUMMARY_EVERY * RECORD_BYTES;
/** Neighbouring blocks are read together up to this size, at most READS_AT_ONCE reads per lookup at a time. */
const MAX_READ_BYTES = 256 * 1024;
const READS_AT_ONCE = 4;
const BLOOM_BITS_PER_KEY = 10;
const BLOOM_PROBES = 7;
const MAGIC = Buffer.from('HFRUN1\n\0', 'latin1');
const PAGE_RECORDS = 1365;

/**
 * The fixed-width key of a chunk id: its length in hex digits, then the id's 32 bytes when it has 64 hex digits
 * (what agents send), else SHA-256 of the id. The length byte keeps the two kinds apart, so distinct ids never
 * share a key. Key order is byte order.
 */
export function writeKey(id: string, into: Buffer, at: number): void {
  into[at] = id.length;
  if (id.length === 64) into.write(id, at + 1, 'hex');
  else
    createHash('sha256')
      .update(id)
      .digest()
      .copy(into, at + 1);
}

/** Keys of `ids` back to back (33 bytes each) and the order that sorts them. */
export function sortedKeys(ids: string[]): { keys: Buffer; order: Uint32Array } {
  const n = ids.length;
  const keys = Buffer.allocUnsafe(n * KEY_BYTES);
  for (let i = 0; i < n; i++) writeKey(ids[i], keys, i * KEY_BYTES);
  return { keys, order: sortOrder(keys, n) };
}

const INDEX_BITS = 2 ** 21;

/**
 * The order of n keys: a native numeric sort on (first 4 key bytes, index) packed into one double, then the
 * rare runs that share those 4 bytes (or an adversary's ids, all alike) sorted by the whole key.
 */
function sortOrder(keys: Buffer, n: number): Uint32Array {
  const order = new Uint32Array(n);
  const byKey = (a: number, b: number) => keys.compare(keys, b * KEY_BYTES, b * KEY_BYTES + KEY_BYTES, a * KEY_BYTES, a * KEY_BYTES + KEY_BYTES);
  if (n > INDEX_BITS) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort(byKey);
  }
  const packed = new Float64Array(n);
  for (let i = 0; i < n; i++) packed[i] = keys.readUInt32BE(i * KEY_BYTES) * INDEX_BITS + i;
  packed.sort();
  for (let i = 0; i < n; i++) order[i] = packed[i] % INDEX_BITS;
  for (let i = 0; i < n; ) {
    const prefix = Math.floor(packed[i] / INDEX_BITS);
    let j = i + 1;
    while (j < n && Math.floor(packed[j] / INDEX_BITS) === prefix) j++;
    if (j - i > 1) order.subarray(i, j).sort(byKey);
    i = j;
  }
  return order;
}

/** Bloom filter probes from the key's own bytes (SHA-256 or HMAC output: already uniform). */
function bloomProbe(key: Buffer, at: number, bits: number, probe: (bit: number) => boolean): boolean {
  const h1 = key.readUInt32BE(at + 1);
  const h2 = key.readUInt32BE(at + 5) | 1;
  for (let i = 0; i < BLOOM_PROBES; i++) if (!probe(((h1 + Math.imul(i, h2)) >>> 0) % bits)) return false;
  return true;
}

export class RunWriter {
  private readonly packIndex = new Map<string, number>();
  private readonly summary: Buffer;
  private readonly bloom: Buffer;
  private readonly page = Buffer.allocUnsafe(PAGE_RECORDS * RECORD_BYTES);
  private used = 0;
  private written = 0;
  count = 0;
  bytes = 0;

  private constructor(
    private readonly fh: FileHandle,
    private readonly tmp: string,
    readonly path: string,
    /** At most this many records (sizes the summary and the Bloom filter). */
    private readonly capacity: number,
  ) {
    this.summary = Buffer.alloc(Math.ceil(capacity / SUMMARY_EVERY) * KEY_BYTES);
    this.bloom = Buffer.alloc(Math.max(8, Math.ceil((capacity * BLOOM_BITS_PER_KEY) / 8)));
  }

  static async create(path: string, capacity: number): Promise<RunWriter> {
    const tmp = `${path}.tmp`;
    return new RunWriter(await open(tmp, 'w', 0o600), tmp, path, capacity);
  }

  /** Room for another record without writing a page first. */
  get full(): boolean {
    return this.used + RECORD_BYTES > this.page.length;
  }

  /** Appends a record (keys strictly ascending: sorted or merged by the caller); when `full`, call writePage() first. */
  add(key: Buffer, keyAt: number, loc: Location): void {
    if (this.count >= this.capacity || this.full) throw new Error('run writer: no room');
    const at = this.used;
    key.copy(this.page, at, keyAt, keyAt + KEY_BYTES);
    this.page[at + 33] = 0;
    let pack = this.packIndex.get(loc.pack);
    if (pack === undefined) {
      pack = this.packIndex.size;
      this.packIndex.set(loc.pack, pack);
    }
    this.page.writeUInt32BE(pack, at + 34);
    // offset as u48: high 16 bits, low 32 bits
    this.page.writeUInt16BE(Math.floor(loc.offset / 2 ** 32), at + 38);
    this.page.writeUInt32BE(loc.offset >>> 0, at + 40);
    this.page.writeUInt32BE(loc.length, at + 44);
    if (this.count % SUMMARY_EVERY === 0) key.copy(this.summary, (this.count / SUMMARY_EVERY) * KEY_BYTES, keyAt, keyAt + KEY_BYTES);
    const bits = this.bloom.length * 8;
    bloomProbe(key, keyAt, bits, (bit) => {
      this.bloom[bit >>> 3] |= 1 << (bit & 7);
      return true;
    });
    this.used += RECORD_BYTES;
    this.count++;
    this.bytes += loc.length;
  }

  async writePage(): Promise<void> {
    await writeFully(this.fh, this.page.subarray(0, this.used), this.written);
    this.written += this.used;
    this.used = 0;
  }

  /** Writes summary, Bloom filter and trailer, syncs and renames into place. */
  async finish(): Promise<void> {
    try {
      await this.writePage();
      const summary = this.summary.subarray(0, Math.ceil(this.count / SUMMARY_EVERY) * KEY_BYTES);
      const meta = { v: 1, count: this.count, bytes: this.bytes, bloomBytes: this.bloom.length, packs: [...this.packIndex.keys()] };
      const trailer = Buffer.from(JSON.stringify(meta), 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(trailer.length);
      await writeFully(this.fh, Buffer.concat([summary, this.bloom, trailer, len, MAGIC]), this.written);
      await this.fh.sync();
    } catch (err) {
      await this.abort();
      throw err;
    }
    await this.fh.close();
    await rename(this.tmp, this.path);
    await fsyncDir(dirname(this.path));
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off, buf.length - off, position + off)).bytesWritten;
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + off}`);
    off += bytesRead;
  }
}

export class SortedRun {
  /** Lookups and merges reading this run; a retired run closes when the last one is done. */
  private users = 0;
  private retired = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly count: number,
    readonly bytes: number,
    readonly packs: string[],
    private readonly summary: Buffer,
    private readonly bloom: Buffer,
  ) {}

  /** Opens a run, checking its trailer and sizes; throws when the file is not a whole run. */
  static async open(path: string): Promise<SortedRun> {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      if (size < 12) throw new Error('too short');
      const tail = Buffer.alloc(12);
      await readFully(fh, tail, size - 12);
      if (!tail.subarray(4).equals(MAGIC)) throw new Error('no run trailer');
      const jsonLen = tail.readUInt32BE(0);
      const json = Buffer.alloc(jsonLen);
      await readFully(fh, json, size - 12 - jsonLen);
      const meta = JSON.parse(json.toString('utf8')) as { v: number; count: number; bytes: number; bloomBytes: number; packs: string[] };
      const summaryBytes = Math.ceil(meta.count / SUMMARY_EVERY) * KEY_BYTES;
      const records = meta.count * RECORD_BYTES;
      if (meta.v !== 1 || !(meta.bloomBytes >= 8) || records + summaryBytes + meta.bloomBytes + jsonLen + 12 !== size) throw new Error('sizes do not add up');
      const summary = Buffer.alloc(summaryBytes);
      const bloom = Buffer.alloc(meta.bloomBytes);
      await readFully(fh, summary, records);
      await readFully(fh, bloom, records + summaryBytes);
      return new SortedRun(path, fh, meta.count, meta.bytes, meta.packs, summary, bloom);
    } catch (err) {
      await fh.close();
      throw new Error(`${path}: not a valid index run (${(err as Error).message})`);
    }
  }

  /** Bytes this run keeps in memory. */
  get memoryBytes(): number {
    return this.summary.length + this.bloom.length;
  }

  /**
   * Looks up keys (33 bytes each in `keys`, visited in `order`, which sorts them) and calls found(i, loc) for
   * each present one. Keys in one block share a read; neighbouring blocks are read together.
   */
  async lookup(keys: Buffer, order: Uint32Array, found: (i: number, loc: Location) => void): Promise<void> {
    if (this.count === 0 || order.length === 0) return;
    this.users++;
    try {
      const bits = this.bloom.length * 8;
      const reads: Array<{ first: number; last: number; keys: number[] }> = [];
      for (const i of order) {
        const at = i * KEY_BYTES;
        if (!bloomProbe(keys, at, bits, (bit) => (this.bloom[bit >>> 3] & (1 << (bit & 7))) !== 0)) continue;
        const b = this.blockOf(keys, at);
        if (b < 0) continue;
        const cur = reads.at(-1);
        if (cur && b <= cur.last + 1 && (b - cur.first + 1) * BLOCK_BYTES <= MAX_READ_BYTES) {
          cur.last = b;
          cur.keys.push(i);
        } else reads.push({ first: b, last: b, keys: [i] });
      }
      let next = 0;
      const reader = async () => {
        while (next < reads.length) {
          const r = reads[next++];
          const start = r.first * SUMMARY_EVERY;
          const end = Math.min(this.count, (r.last + 1) * SUMMARY_EVERY);
          const buf = Buffer.allocUnsafe((end - start) * RECORD_BYTES);
          await readFully(this.fh, buf, start * RECORD_BYTES);
          for (const i of r.keys) {
            const b = this.blockOf(keys, i * KEY_BYTES);
            const first = b * SUMMARY_EVERY;
            const at = search(buf, (first - start) * RECORD_BYTES, Math.min(end, first + SUMMARY_EVERY) - first, keys, i * KEY_BYTES);
            if (at >= 0) found(i, this.locationAt(buf, at));
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(READS_AT_ONCE, reads.length) }, reader));
    } finally {
      this.release();
    }
  }

  /** The block whose first key is the greatest one <= key, or -1 when key sorts before every record. */
  private blockOf(keys: Buffer, at: number): number {
    let lo = 0;
    let hi = this.summary.length / KEY_BYTES - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (keys.compare(this.summary, mid * KEY_BYTES, mid * KEY_BYTES + KEY_BYTES, at, at + KEY_BYTES) >= 0) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  locationAt(buf: Buffer, at: number): Location {
    const offset = buf.readUInt16BE(at + 38) * 2 ** 32 + buf.readUInt32BE(at + 40);
    return { pack: this.packs[buf.readUInt32BE(at + 34)], offset, length: buf.readUInt32BE(at + 44) };
  }

  /** Reads records [first, first + n) into buf (for merges). */
  async readRecords(first: number, n: number, buf: Buffer): Promise<void> {
    this.users++;
    try {
      await readFully(this.fh, buf.subarray(0, n * RECORD_BYTES), first * RECORD_BYTES);
    } finally {
      this.release();
    }
  }

  /** No longer part of the index: close once unused, then delete the file. */
  retire(): void {
    this.retired = true;
    if (this.users === 0) void this.dispose();
  }

  /** Closes the file (the index is closing; the run stays on disk). */
  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }

  private release(): void {
    this.users--;
    if (this.retired && this.users === 0) void this.dispose();
  }

  private async dispose(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.path, { force: true }).catch(() => undefined);
  }
}

/** Binary search of `n` records from byte `from` of buf for the key at keys[at]; the record's offset or -1. */
function search(buf: Buffer, from: number, n: number, keys: Buffer, at: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const rec = from + mid * RECORD_BYTES;
    const c = keys.compare(buf, rec, rec + KEY_BYTES, at, at + KEY_BYTES);
    if (c === 0) return rec;
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return -1;
}

/** Reads a run's records in order, a page at a time (for merges). */
export class RunCursor {
  readonly buf = Buffer.allocUnsafe(PAGE_RECORDS * RECORD_BYTES);
  private pageFirst = 0;
  private pageCount = 0;
  private next = 0;
  /** Byte offset of the current record in `buf`. */
  at = 0;

  constructor(readonly run: SortedRun) {}

  /** True when advance() needs a page read first (call fill()). */
  get needsFill(): boolean {
    return this.next < this.run.count && this.next >= this.pageFirst + this.pageCount;
  }

  async fill(): Promise<void> {
    this.pageFirst = this.next;
    this.pageCount = Math.min(PAGE_RECORDS, this.run.count - this.next);
    await this.run.readRecords(this.pageFirst, this.pageCount, this.buf);
  }

  /** Moves to the next record (after fill() when needsFill); false at the end. */
  advance(): boolean {
    if (this.next >= this.run.count) return false;
    this.at = (this.next - this.pageFirst) * RECORD_BYTES;
    this.next++;
    return true;
  }

  location(): Location {
    return this.run.locationAt(this.buf, this.at);
  }
}
