// cpio "odc" (POSIX.1 portable, magic 070707) writer: the format of a flat package's Payload and Scripts.
// Header fields are fixed-width octal ASCII; the name is NUL-terminated; no padding anywhere.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;

export interface CpioEntry {
  /** Archive path, "." or "./..." as Apple's installer expects. */
  path: string;
  /** Permission bits only (e.g. 0o755); the type comes from `kind`. */
  mode: number;
  kind: 'dir' | 'file';
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** File contents: bytes, or a file on disk streamed in. */
  data?: Buffer | { file: string };
}

/** Where the bytes go (a gzip/deflate stream, a file, a hash...); must respect backpressure via the promise. */
export type Sink = (chunk: Buffer) => Promise<void>;

function octal(value: number, width: number, field: string): string {
  const s = Math.trunc(value).toString(8);
  if (value < 0 || s.length > width) throw new Error(`cpio odc: ${field} ${value} does not fit in ${width} octal digits`);
  return s.padStart(width, '0');
}

export function odcHeader(e: { path: string; mode: number; uid: number; gid: number; nlink: number; mtime: number; size: number; ino: number }): Buffer {
  const name = Buffer.from(`${e.path}\0`, 'utf8');
  const head =
    '070707' +
    octal(0, 6, 'dev') +
    octal(e.ino, 6, 'ino') +
    octal(e.mode, 6, 'mode') +
    octal(e.uid, 6, 'uid') +
    octal(e.gid, 6, 'gid') +
    octal(e.nlink, 6, 'nlink') +
    octal(0, 6, 'rdev') +
    octal(e.mtime, 11, 'mtime') +
    octal(name.length, 6, 'namesize') +
    octal(e.size, 11, 'filesize');
  return Buffer.concat([Buffer.from(head, 'ascii'), name]);
}

export function validateArchivePath(path: string): void {
  if (path !== '.' && !path.startsWith('./')) throw new Error(`cpio path ${JSON.stringify(path)} must be "." or start with "./"`);
  if (/[\0\n]/.test(path) || path.split('/').some((p) => p === '..')) throw new Error(`cpio path ${JSON.stringify(path)} has NUL, newline or ".."`);
}

/** Streams odc entries into a sink; inode numbers count from `firstIno` so two writers can share one archive. */
export class OdcWriter {
  private ino: number;

  constructor(
    private readonly sink: Sink,
    firstIno = 1,
  ) {
    this.ino = firstIno;
  }

  get nextIno(): number {
    return this.ino;
  }

  async add(entry: CpioEntry): Promise<void> {
    validateArchivePath(entry.path);
    const isDir = entry.kind === 'dir';
    let size = 0;
    if (!isDir && entry.data) size = Buffer.isBuffer(entry.data) ? entry.data.length : (await stat(entry.data.file)).size;
    await this.sink(
      odcHeader({
        path: entry.path,
        mode: (isDir ? S_IFDIR : S_IFREG) | (entry.mode & 0o7777),
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
        nlink: isDir ? 2 : 1,
        mtime: entry.mtime,
        size,
        ino: this.ino++ % 0o1000000,
      }),
    );
    if (isDir || !entry.data) return;
    if (Buffer.isBuffer(entry.data)) {
      await this.sink(entry.data);
      return;
    }
    let copied = 0;
    for await (const chunk of createReadStream(entry.data.file, { highWaterMark: 1 << 20 })) {
      copied += (chunk as Buffer).length;
      await this.sink(chunk as Buffer);
    }
    if (copied !== size) throw new Error(`${entry.data.file} changed size while being archived`);
  }

  async trailer(): Promise<void> {
    await this.sink(odcHeader({ path: 'TRAILER!!!', mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0, ino: 0 }));
  }
}

/** A whole small archive in memory (the Scripts archive, the per-fleet tail of the Payload). */
export async function odcArchive(entries: CpioEntry[], opts: { firstIno?: number; trailer?: boolean } = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  const w = new OdcWriter(async (b) => void parts.push(b), opts.firstIno);
  for (const e of entries) await w.add(e);
  if (opts.trailer !== false) await w.trailer();
  return Buffer.concat(parts);
}
