// Replacing a device's index.log (a prune's commit) while other server processes on the same data folder keep
// appending to it. The sweeping process:
//   1. has read index.log up to `readEnd` and written the compacted lines;
//   2. renames index.log to index.log.prev: from here an appender sees that its file is no longer index.log;
//   3. reads .prev from `readEnd` to its end (lines others appended meanwhile) and adds them to the new lines;
//   4. writes the new index.log atomically, then deletes .prev.
// An appender (DeviceStore.commit, afterIndexAppend) checks after its fsync that its file is still index.log; if not,
// its lines may have landed in .prev after step 3, so it appends them again to the new index.log (an identical
// line twice is harmless: the first location wins and both are the same). A crash between 2 and 4 leaves no
// index.log: recoverInterruptedSweep puts .prev back (at open, or an appender that finds the sweeper gone).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../../common/fs-atomic.js';
import { processAlive } from '../../common/process-alive.js';

const LOG = 'index.log';
const PREV = 'index.log.prev';
const LOCK = 'sweep.lock';

/** Devices whose sweep lock this process holds (a lock naming our pid but not held here is a previous life's). */
const held = new Set<string>();

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The pid holding the device's sweep lock, if that process still runs. */
async function sweeper(dir: string): Promise<number | undefined> {
  const pid = Number(await readFile(join(dir, LOCK), 'utf8').catch(() => ''));
  if (pid === process.pid) return held.has(dir) ? pid : undefined;
  return pid && processAlive(pid) ? pid : undefined;
}

/** One sweep per device across every server process on the data folder; a lock left by a dead process is taken over. */
export async function acquireSweepLock(dir: string): Promise<(() => Promise<void>) | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(join(dir, LOCK), 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      held.add(dir);
      return async () => {
        await rm(join(dir, LOCK), { force: true });
        held.delete(dir);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await sweeper(dir)) return undefined;
      await rm(join(dir, LOCK), { force: true });
    }
  }
  return undefined;
}

/** After a crash mid-swap: index.log missing means the sweep did not commit; .prev is the log. */
export async function recoverInterruptedSweep(dir: string): Promise<void> {
  if (await sweeper(dir)) return;
  if (await exists(join(dir, PREV))) {
    if (await exists(join(dir, LOG))) await rm(join(dir, PREV), { force: true });
    else await rename(join(dir, PREV), join(dir, LOG));
    await fsyncDir(dir);
  }
}

/** Steps 2-4 above: `lines` are the compacted lines of index.log up to `readEnd`. */
export async function swapIndex(dir: string, lines: string, readEnd: number): Promise<void> {
  await rename(join(dir, LOG), join(dir, PREV));
  let tail = '';
  const fd = openSync(join(dir, PREV), 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > readEnd) {
      const buf = Buffer.alloc(size - readEnd);
      readSync(fd, buf, 0, buf.length, readEnd);
      tail = buf.toString('latin1');
      // A torn line (a crashed appender) must not swallow the next appender's first line.
      if (!tail.endsWith('\n')) tail += '\n';
    }
  } finally {
    closeSync(fd);
  }
  await writeFileAtomic(join(dir, LOG), lines + tail);
  await rm(join(dir, PREV), { force: true });
}

const WAIT_MS = 10;

/**
 * Called by an appender after its lines are fsynced through `fh`: when a sweep swapped index.log meanwhile, appends
 * `text` again to the current index.log and returns its handle (the caller uses it from now on).
 */
export async function afterIndexAppend(dir: string, fh: FileHandle, text: string): Promise<FileHandle | undefined> {
  const mine = fstatSync(fh.fd).ino;
  for (;;) {
    const st = await stat(join(dir, LOG)).catch(() => undefined);
    if (st?.ino === mine) return undefined;
    if (st) {
      const next = await open(join(dir, LOG), 'a', 0o600);
      await next.write(text, null, 'latin1');
      await next.datasync();
      // A second swap between our stat and our write: go round again with the new handle.
      const again = await afterIndexAppend(dir, next, text);
      if (again) {
        await next.close();
        return again;
      }
      return next;
    }
    // Between the sweeper's two renames: wait for it, or put .prev back if it died there.
    if (!(await sweeper(dir))) await recoverInterruptedSweep(dir);
    else await new Promise((r) => setTimeout(r, WAIT_MS));
  }
}
