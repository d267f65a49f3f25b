// The one way Holdfast replaces a file (agent config and state, keys, caches, local and server stores): write a
// temp file beside the target, fsync it, rename it over the target, fsync the folder. A crash leaves the old file or
// the new one, never a torn one; once the call returns, the new file and its name survive a power cut (the folder's
// fsync makes the rename durable). A crash can leave a `.<name>.<pid>.<random>.tmp` beside the target; nothing reads it.
// Async form for code that must not block the event loop, sync form for the engine's synchronous paths.
//
// fs is called through the module objects (fs.x, fsp.x), not named imports, so a test can watch the fsyncs.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What a file is written from: text (UTF-8), bytes, or parts written back to back. */
export type FileData = string | Uint8Array | readonly Uint8Array[];

/** Windows cannot open a folder for syncing (and NTFS journals the rename itself). */
const CAN_SYNC_DIRS = process.platform !== 'win32';

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export async function fsyncDir(dir: string): Promise<void> {
  if (!CAN_SYNC_DIRS) return;
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function fsyncDirSync(dir: string): void {
  if (!CAN_SYNC_DIRS) return;
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `path` with `data` crash-safely (see the header). The folder must exist. */
export async function writeFileAtomic(path: string, data: FileData, mode = 0o600): Promise<void> {
  const tmp = tempPathFor(path);
  const fh = await fsp.open(tmp, 'wx', mode);
  try {
    // writev of many parts is one call; libuv finishes partial writes itself.
    if (typeof data === 'string' || data instanceof Uint8Array) await fh.writeFile(data);
    else await fh.writev(data as Uint8Array[]);
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** The synchronous form of writeFileAtomic. */
export function writeFileAtomicSync(path: string, data: FileData, mode = 0o600): void {
  const tmp = tempPathFor(path);
  const fd = fs.openSync(tmp, 'wx', mode);
  let open = true;
  try {
    const parts = typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
    for (const part of parts) {
      for (let off = 0; off < part.byteLength; ) off += fs.writeSync(fd, part, off, part.byteLength - off);
    }
    fs.fsyncSync(fd);
    open = false;
    fs.closeSync(fd);
    fs.renameSync(tmp, path);
  } catch (err) {
    if (open) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirSync(dirname(path));
}
