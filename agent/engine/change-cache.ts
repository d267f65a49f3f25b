// The change cache: every entry of the last snapshot, in its order, with the inode of each file, so an
// unchanged file is neither read nor chunked again and an unchanged entry can be stored as a reference into
// that snapshot (snapshot.ts, delta snapshots). Binary and columnar, so loading 20,000 entries is a few
// native calls and a lookup in walk order allocates nothing (docs/design.md, "Change cache").
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../../common/fs-atomic.js';
import { decodeName, encodeName, nameByteLength } from './names.js';
import type { EntryExtra, SnapshotEntry } from './snapshot.js';
import type { WalkRoot } from './walker.js';

const MAGIC = Buffer.from('HFCC\x05\0\0\0', 'latin1');
/**
 * Numbers per entry: type, mode, mtimeMs, size, ino, data offset, data length, mtime, uid, gid, flags (1 sparse,
 * 2 hard link, 4 extended attributes), hard-link dev, hard-link ino, length of the extended attributes (data: raw
 * chunk ids or link target, then the extended attributes as JSON).
 */
const COLS = 14;
/**
 * Format 4 (before extended attributes: the first 13 columns), format 3 (before owners: the first 8) and format 2
 * (before exact times: the first 7): still matched, see `legacy`.
 */
const MAGIC_4 = Buffer.from('HFCC\x04\0\0\0', 'latin1');
const COLS_4 = 13;
const MAGIC_3 = Buffer.from('HFCC\x03\0\0\0', 'latin1');
const COLS_3 = 8;
const MAGIC_2 = Buffer.from('HFCC\x02\0\0\0', 'latin1');
const COLS_2 = 7;
/** Columns: mtimeMs is Node's plain stat double (what a walk is compared with), mtime the exact µs (what snapshots hold). */
const MTIME_MS = 2;
const MTIME_US = 7;
const UID = 8;
const GID = 9;
const FLAGS = 10;
const LINK_DEV = 11;
const LINK_INO = 12;
const XATTR_LEN = 13;
const SPARSE = 1;
const HARD_LINK = 2;
const XATTRS = 4;
const TYPES = ['f', 'd', 'l'] as const;
const TYPE_NUM: Record<SnapshotEntry[1], number> = { f: 0, d: 1, l: 2 };
/** Inode stored for a file that must be read again (it changed while it was read). */
const NO_REUSE = -1;

interface Header {
  snapshotId: string;
  /** Delta depth of that snapshot: 0 = a full snapshot. */
  depth: number;
  roots: WalkRoot[];
  count: number;
  pathsLen: number;
  dataLen: number;
}

/** Split concatenated chunk ids. */
export function splitIds(ids: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += 64) out.push(ids.slice(i, i + 64));
  return out;
}

export class ChangeCache {
  private constructor(
    /** The snapshot this cache describes; the cache is void when the store no longer lists it. */
    readonly snapshotId: string | null,
    readonly depth: number,
    readonly roots: WalkRoot[],
    /** Snapshot paths, in snapshot order. */
    readonly paths: string[],
    private readonly num: Float64Array,
    private readonly data: Buffer,
    /** Numbers per entry: COLS, or fewer in a legacy cache. */
    private readonly cols = COLS,
  ) {
    this.legacy = cols !== COLS;
  }

  /**
   * A format-2, 3 or 4 cache (written before times were exact, owners or extended attributes): files still match it
   * (same mtimeMs), so an upgraded agent reads nothing again, but none of its entries is reused as it is: the next
   * snapshot is a full one with exact times, owners and extended attributes.
   */
  readonly legacy: boolean;

  static empty(): ChangeCache {
    return new ChangeCache(null, 0, [], [], new Float64Array(0), Buffer.alloc(0));
  }

  /** A missing, unreadable or malformed cache is an empty one: the backup then reads every file. */
  static load(path: string): ChangeCache {
    try {
      return ChangeCache.parse(readFileSync(path));
    } catch {
      return ChangeCache.empty();
    }
  }

  static parse(buf: Buffer): ChangeCache {
    if (buf.length < 12) return ChangeCache.empty();
    const magic = buf.subarray(0, 8);
    const cols = magic.equals(MAGIC) ? COLS : magic.equals(MAGIC_4) ? COLS_4 : magic.equals(MAGIC_3) ? COLS_3 : magic.equals(MAGIC_2) ? COLS_2 : 0;
    if (cols === 0) return ChangeCache.empty();
    const headerLen = buf.readUInt32LE(8);
    const h = JSON.parse(buf.toString('utf8', 12, 12 + headerLen)) as Header;
    const numAt = align8(12 + headerLen);
    const numLen = h.count * cols * 8;
    const pathsAt = numAt + numLen;
    const dataAt = pathsAt + h.pathsLen;
    if (typeof h.snapshotId !== 'string' || !Array.isArray(h.roots) || !Number.isInteger(h.count) || dataAt + h.dataLen !== buf.length)
      return ChangeCache.empty();
    // Float64Array needs an 8-byte aligned offset; a Buffer from readFileSync normally is, else copy.
    const num =
      (buf.byteOffset + numAt) % 8 === 0
        ? new Float64Array(buf.buffer, buf.byteOffset + numAt, h.count * cols)
        : new Float64Array(buf.buffer.slice(buf.byteOffset + numAt, buf.byteOffset + pathsAt));
    const paths = h.count === 0 ? [] : decodeName(buf.subarray(pathsAt, dataAt)).split('\0');
    if (paths.length !== h.count) return ChangeCache.empty();
    const data = buf.subarray(dataAt);
    for (let i = 0; i < h.count; i++) {
      const o = i * cols;
      const xattrLen = cols > XATTR_LEN ? num[o + XATTR_LEN] : 0;
      if (!(num[o] >= 0 && num[o] <= 2) || num[o + 5] + num[o + 6] + xattrLen > data.length) return ChangeCache.empty();
    }
    return new ChangeCache(h.snapshotId, h.depth | 0, h.roots, paths, num, data, cols);
  }

  get count(): number {
    return this.paths.length;
  }

  /** Index of the entry with this snapshot path, or -1. `hint` is where walk order expects it. */
  indexOf(path: string, hint: number): number {
    if (this.paths[hint] === path) return hint;
    this.byPath ??= new Map(this.paths.map((p, i) => [p, i]));
    return this.byPath.get(path) ?? -1;
  }

  private byPath: Map<string, number> | undefined;

  type(i: number): SnapshotEntry[1] {
    return TYPES[this.num[i * this.cols]];
  }

  mode(i: number): number {
    return this.num[i * this.cols + 1];
  }

  /** Node's plain stat mtimeMs of entry i when it was backed up. */
  mtimeMs(i: number): number {
    return this.num[i * this.cols + MTIME_MS];
  }

  /** The exact mtime (µs) of entry i; undefined in a legacy cache. */
  mtime(i: number): number | undefined {
    return this.cols < COLS_3 ? undefined : this.num[i * this.cols + MTIME_US];
  }

  size(i: number): number {
    return this.num[i * this.cols + 3];
  }

  /** Chunk ids (file, hex) or link target (symlink); '' for a folder. */
  dataOf(i: number): string {
    const o = i * this.cols;
    const from = this.num[o + 5];
    const to = from + this.num[o + 6];
    return this.num[o] === 0 ? this.data.toString('hex', from, to) : decodeName(this.data.subarray(from, to));
  }

  /** Is entry i this file, unchanged (same size, mtimeMs and inode, and not marked to be read again)? */
  unchanged(i: number, size: number, mtimeMs: number, ino: number): boolean {
    const o = i * this.cols;
    return this.num[o] === 0 && this.num[o + 3] === size && this.num[o + MTIME_MS] === mtimeMs && this.num[o + 4] === ino && ino !== NO_REUSE;
  }

  /**
   * Is entry i exactly this entry (path compared by the caller; time as a plain stat's mtimeMs)? `data` undefined:
   * the ids are the cached ones. Never in a legacy cache (its entries lack exact times).
   */
  same(i: number, type: SnapshotEntry[1], mode: number, mtimeMs: number, size: number, data: string | null | undefined, meta: EntryMeta = NO_META): boolean {
    const o = i * this.cols;
    if (this.legacy) return false;
    const n = this.num;
    if (n[o] !== TYPE_NUM[type] || n[o + 1] !== mode || n[o + MTIME_MS] !== mtimeMs || n[o + 3] !== size) return false;
    if (n[o + UID] !== meta.uid || n[o + GID] !== meta.gid || n[o + FLAGS] !== flagsOf(meta.extra)) return false;
    if (meta.extra?.h !== undefined && `${n[o + LINK_DEV]}:${n[o + LINK_INO]}` !== meta.extra.h) return false;
    if (meta.extra?.x !== undefined && !this.xattrBytes(i).equals(xattrJson(meta.extra.x))) return false;
    if (data === undefined) return true;
    const d = data ?? '';
    return this.num[o + 6] === (type === 'f' ? d.length / 2 : nameByteLength(d)) && this.dataOf(i) === d;
  }

  /** Snapshot entry i as stored in the snapshot (not for a legacy cache). */
  entry(i: number): SnapshotEntry {
    const type = this.type(i);
    const o = i * this.cols;
    const n = this.num;
    const e: SnapshotEntry = [
      this.paths[i],
      type,
      this.mode(i),
      this.mtime(i) ?? Math.floor(this.mtimeMs(i) * 1000),
      this.size(i),
      type === 'd' ? null : this.dataOf(i),
    ];
    if (this.legacy) return e;
    const flags = n[o + FLAGS];
    if (flags === 0) return n[o + UID] < 0 ? e : [...e, n[o + UID], n[o + GID]];
    const extra: EntryExtra = {};
    if (flags & HARD_LINK) extra.h = `${n[o + LINK_DEV]}:${n[o + LINK_INO]}`;
    if (flags & SPARSE) extra.s = 1;
    if (flags & XATTRS) extra.x = JSON.parse(this.xattrBytes(i).toString('utf8')) as Record<string, string>;
    return [...e, n[o + UID], n[o + GID], extra];
  }

  /** The extended attributes of entry i as stored (JSON; empty when it has none). */
  private xattrBytes(i: number): Buffer {
    const o = i * this.cols;
    const from = this.num[o + 5] + this.num[o + 6];
    return this.data.subarray(from, from + this.num[o + XATTR_LEN]);
  }

  /** @internal for ChangeCacheWriter */
  raw(i: number): { num: Float64Array; data: Buffer } {
    return { num: this.num.subarray(i * this.cols, (i + 1) * this.cols), data: this.data };
  }
}

/** An entry's owner, group and extras (what format-5 entries add); -1 for an entry that has none. */
export interface EntryMeta {
  uid: number;
  gid: number;
  extra?: EntryExtra;
}

const NO_META: EntryMeta = { uid: -1, gid: -1 };

export function entryMeta(e: SnapshotEntry): EntryMeta {
  return { uid: e[6] ?? -1, gid: e[7] ?? -1, extra: e[8] };
}

function flagsOf(extra: EntryExtra | undefined): number {
  return extra === undefined ? 0 : (extra.s ? SPARSE : 0) | (extra.h !== undefined ? HARD_LINK : 0) | (extra.x !== undefined ? XATTRS : 0);
}

/** Extended attributes as the cache stores them (their names are already sorted: xattrs.ts). */
function xattrJson(x: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify(x), 'utf8');
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Builds the cache of a new snapshot: runs copied from the old cache plus new entries, in snapshot order. */
export class ChangeCacheWriter {
  private num = new Float64Array(1024 * COLS);
  private n = 0;
  private readonly paths: string[] = [];
  private readonly dataParts: Buffer[] = [];
  private dataLen = 0;

  private grow(): void {
    if ((this.n + 1) * COLS <= this.num.length) return;
    const bigger = new Float64Array(this.num.length * 2);
    bigger.set(this.num);
    this.num = bigger;
  }

  /** Entries [start, start+count) of `from`, unchanged. */
  copyRun(from: ChangeCache, start: number, count: number): void {
    if (count === 0) return;
    if (from.legacy) throw new Error('entries of a format-2 change cache are never copied (their times are not exact)');
    const first = from.raw(start).num;
    const last = from.raw(start + count - 1).num;
    const dataStart = first[5];
    const dataEnd = last[5] + last[6] + last[XATTR_LEN];
    const shift = this.dataLen - dataStart;
    for (let i = start; i < start + count; i++) {
      this.grow();
      const src = from.raw(i).num;
      const o = this.n * COLS;
      this.num.set(src, o);
      this.num[o + 5] = src[5] + shift;
      this.paths.push(from.paths[i]);
      this.n++;
    }
    // Entries of a run were written in order, so their data is one contiguous range.
    this.dataParts.push(from.raw(start).data.subarray(dataStart, dataEnd));
    this.dataLen += dataEnd - dataStart;
  }

  /**
   * A new entry (its time exact, in µs) with the plain stat mtimeMs a walk will compare it by; `reusable` false
   * stores a file so that the next backup reads it again.
   */
  add(e: SnapshotEntry, mtimeMs: number, ino: number, reusable = true): void {
    this.grow();
    const d = e[1] === 'f' ? Buffer.from(e[5] ?? '', 'hex') : encodeName(e[5] ?? '');
    const x = e[8]?.x === undefined ? undefined : xattrJson(e[8].x);
    const o = this.n * COLS;
    this.num[o] = TYPE_NUM[e[1]];
    this.num[o + 1] = e[2];
    this.num[o + MTIME_MS] = mtimeMs;
    this.num[o + MTIME_US] = e[3];
    this.num[o + 3] = e[4];
    this.num[o + 4] = reusable ? ino : NO_REUSE;
    this.num[o + 5] = this.dataLen;
    this.num[o + 6] = d.length;
    const meta = entryMeta(e);
    this.num[o + UID] = meta.uid;
    this.num[o + GID] = meta.gid;
    this.num[o + FLAGS] = flagsOf(meta.extra);
    if (meta.extra?.h !== undefined) {
      const [dev, ino] = meta.extra.h.split(':');
      this.num[o + LINK_DEV] = Number(dev);
      this.num[o + LINK_INO] = Number(ino);
    }
    this.num[o + XATTR_LEN] = x?.length ?? 0;
    this.paths.push(e[0]);
    this.dataParts.push(d);
    this.dataLen += d.length;
    if (x) {
      this.dataParts.push(x);
      this.dataLen += x.length;
    }
    this.n++;
  }

  save(path: string, snapshotId: string, depth: number, roots: WalkRoot[]): void {
    const pathsBuf = encodeName(this.paths.join('\0'));
    const header = Buffer.from(JSON.stringify({ snapshotId, depth, roots, count: this.n, pathsLen: pathsBuf.length, dataLen: this.dataLen } satisfies Header));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length);
    const pad = Buffer.alloc(align8(12 + header.length) - 12 - header.length);
    const num = Buffer.from(this.num.buffer, 0, this.n * COLS * 8);
    writeFileAtomicSync(path, Buffer.concat([MAGIC, len, header, pad, num, pathsBuf, ...this.dataParts]), 0o600);
  }
}
