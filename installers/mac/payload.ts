// The component Payload: gzip'd cpio odc. The big shared part (both Node runtimes, the agent bundle, the
// launcher) is deflated once per content hash into the cache, ending on a sync flush instead of a final block;
// each fleet's Payload is then that deflate stream + a small deflated tail (LaunchDaemon plist, trailer) in one
// gzip member, with the CRC-32 continued over the tail. Nothing large is recompressed per fleet.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants, createDeflateRaw, deflateRawSync, gzipSync } from 'node:zlib';
import type { BomEntry } from './bom.js';
import { crc32, PosixCksum, posixCksum } from './checksums.js';
import { OdcWriter, odcArchive, type CpioEntry } from './cpio.js';
import { GID_OVERRIDES } from './layout.js';

/** Bumped whenever the shared payload's byte layout changes, so stale cache entries are ignored. */
const FORMAT = 'holdfast-pkg-payload-1';

export interface SharedPayload {
  /** Raw deflate data ending on a sync flush (no final block). */
  deflateFile: string;
  crc: number;
  size: number;
  nextIno: number;
  entries: BomEntry[];
  compressedSize: number;
  /** True when this call found it in the cache. */
  cached: boolean;
}

const contentHashes = new Map<string, string>();

async function contentHash(file: string): Promise<string> {
  const st = await stat(file);
  const memo = `${file}:${st.size}:${st.mtimeMs}`;
  const known = contentHashes.get(memo);
  if (known) return known;
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  const digest = h.digest('hex');
  contentHashes.set(memo, digest);
  return digest;
}

async function fileCksum(file: string): Promise<number> {
  const c = new PosixCksum();
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) c.update(chunk as Buffer);
  return c.digest();
}

export function withGid(e: CpioEntry): CpioEntry {
  return GID_OVERRIDES[e.path] !== undefined ? { ...e, gid: GID_OVERRIDES[e.path] } : e;
}

async function bomEntry(e: CpioEntry): Promise<BomEntry> {
  const base = { path: e.path, kind: e.kind, mode: e.mode, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime };
  if (e.kind === 'dir' || !e.data) return { ...base, size: 0, cksum: e.kind === 'dir' ? 0 : posixCksum(Buffer.alloc(0)) };
  if (Buffer.isBuffer(e.data)) return { ...base, size: e.data.length, cksum: posixCksum(e.data) };
  return { ...base, size: (await stat(e.data.file)).size, cksum: await fileCksum(e.data.file) };
}

const inFlight = new Map<string, Promise<SharedPayload>>();

/** Builds (or finds in `cacheDir`) the deflated shared head of the Payload for these entries (their mtime is ignored). */
export async function sharedPayload(cacheDir: string, entries: CpioEntry[], level: number, progress: (m: string) => void): Promise<SharedPayload> {
  const key = createHash('sha256').update(FORMAT).update(String(level));
  for (const e of entries.map(withGid)) {
    key.update(JSON.stringify({ path: e.path, mode: e.mode, kind: e.kind, uid: e.uid ?? 0, gid: e.gid ?? 0 }));
    if (e.data) key.update(Buffer.isBuffer(e.data) ? createHash('sha256').update(e.data).digest('hex') : await contentHash(e.data.file));
  }
  const digest = key.digest('hex').slice(0, 32);
  const dir = join(cacheDir, 'pkg-payload', digest);
  const pending = inFlight.get(dir);
  if (pending) return pending;
  const work = (async (): Promise<SharedPayload> => {
    const metaFile = join(dir, 'meta.json');
    if (existsSync(metaFile)) {
      const meta = JSON.parse(await readFile(metaFile, 'utf8')) as Omit<SharedPayload, 'deflateFile' | 'cached'>;
      const deflateFile = join(dir, 'payload.deflate');
      if (existsSync(deflateFile) && (await stat(deflateFile)).size === meta.compressedSize) return { ...meta, deflateFile, cached: true };
    }
    // Whatever is there is incomplete or damaged: rebuild it.
    await rm(dir, { recursive: true, force: true });
    progress(`pkg: compressing the shared payload (runtimes + agent, gzip level ${level}); cached for later fleets`);
    await mkdir(join(cacheDir, 'pkg-payload'), { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    try {
      const deflate = createDeflateRaw({ level, finishFlush: constants.Z_SYNC_FLUSH });
      const piped = pipeline(deflate, createWriteStream(join(tmp, 'payload.deflate')));
      let crc = 0;
      let size = 0;
      const writer = new OdcWriter(async (b) => {
        crc = crc32(b, crc);
        size += b.length;
        if (!deflate.write(b)) await once(deflate, 'drain');
      });
      const bom: BomEntry[] = [];
      // Entry times are the build time of the cache entry (they are not part of its key).
      const built = Math.floor(Date.now() / 1000);
      for (const e of entries.map(withGid).map((x) => ({ ...x, mtime: built }))) {
        await writer.add(e);
        bom.push(await bomEntry(e));
      }
      deflate.end();
      await piped;
      const compressedSize = (await stat(join(tmp, 'payload.deflate'))).size;
      const meta = { crc, size, nextIno: writer.nextIno, entries: bom, compressedSize };
      await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
      try {
        await rename(tmp, dir);
      } catch (err) {
        // Another process finished the same entry first: same key, same content; keep theirs.
        if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        await rm(tmp, { recursive: true, force: true });
        const theirs = JSON.parse(await readFile(metaFile, 'utf8')) as typeof meta;
        return { ...theirs, deflateFile: join(dir, 'payload.deflate'), cached: true };
      }
      return { ...meta, deflateFile: join(dir, 'payload.deflate'), cached: false };
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  })();
  inFlight.set(dir, work);
  try {
    return await work;
  } finally {
    inFlight.delete(dir);
  }
}

/** Writes the gzip'd Payload = shared head + `tail` entries + trailer; returns every entry for the Bom. */
export async function writePayload(out: string, shared: SharedPayload, tail: CpioEntry[]): Promise<BomEntry[]> {
  const tailEntries = tail.map(withGid);
  const tailRaw = await odcArchive(tailEntries, { firstIno: shared.nextIno });
  const tailDeflate = deflateRawSync(tailRaw, { level: 9 });
  // gzip member header: deflate, no flags, mtime 0, OS = Unix.
  const header = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(tailRaw, shared.crc), 0);
  trailer.writeUInt32LE((shared.size + tailRaw.length) % 2 ** 32, 4);
  const ws = createWriteStream(out);
  ws.write(header);
  await pipeline(createReadStream(shared.deflateFile), ws, { end: false });
  ws.end(Buffer.concat([tailDeflate, trailer]));
  await once(ws, 'close');
  return [...shared.entries, ...(await Promise.all(tailEntries.map(bomEntry)))];
}

/** gzip'd cpio of small in-memory entries (the Scripts archive). */
export async function smallArchiveGz(entries: CpioEntry[]): Promise<Buffer> {
  return gzipSync(await odcArchive(entries), { level: 9 });
}
