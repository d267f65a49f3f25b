// The sweep of a prune: delete every chunk that is neither live (the agent's list from the kept snapshots) nor
// protected (found by a HAS or sent by a PUT since the mark). Packs with nothing live are deleted; packs with more
// unused bytes than allowed are rewritten (their live chunks copied to a new pack). Crash-safe in this order:
//   1. new pack written and fsynced (a crash: an orphan pack nothing refers to, deleted by a later sweep)
//   2. the epoch bumped (prune.json): backups that began before now must check their chunks again, and other
//      server processes on the data folder reload their index before their next answer
//   3. the snapshots listed again: one the agent did not account for aborts the sweep (the agent reads it)
//   4. index.log replaced by one that names only what is kept (the commit; prune-swap.ts keeps lines other
//      processes append meanwhile)
//   5. dead packs deleted (a crash: orphans, deleted by a later sweep)
// This process's commits are paused meanwhile (PUTs wait), its snapshot writes wait on the device's prune lock; one
// sweep per device at a time across processes (sweep.lock). Packs another live process writes are never touched.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../../common/fs-atomic.js';
import { processAlive } from '../../common/process-alive.js';
import { newSweepStats, type SweepStats } from '../../protocol/prune-messages.js';
import type { DeviceStore } from './device-store.js';
import type { Location } from './chunk-index.js';
import type { DevicePruneState } from './prune-state.js';
import { acquireSweepLock, swapIndex } from './prune-swap.js';

const INDEX_LINE = /^([0-9a-f]{16,128}) ([A-Za-z0-9._-]+\.pack) (\d+) (\d+)$/;
const PACK_NAME = /^[0-9a-z]+-(\d+)-[0-9a-f]+\.pack$/;
/** Bytes copied per read when rewriting a pack. */
const COPY_PIECE = 8 * 1024 * 1024;

export interface SweepOptions {
  dryRun: boolean;
  maxUnusedPercent: number;
}

interface PackPlan {
  name: string;
  size: number;
  kept: Array<[string, Location]>;
  unused: Array<[string, Location]>;
  action: 'keep' | 'delete' | 'rewrite';
}

/** index.log as the index reads it (complete lines that match, the first location of an id wins) and how far that is. */
async function readIndexLog(dir: string): Promise<{ index: Map<string, Location>; readEnd: number }> {
  let text: string;
  try {
    text = await readFile(join(dir, 'index.log'), 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { index: new Map(), readEnd: 0 };
    throw err;
  }
  const index = new Map<string, Location>();
  const end = text.lastIndexOf('\n');
  for (const line of text.slice(0, end + 1).split('\n')) {
    const m = INDEX_LINE.exec(line);
    if (m && !index.has(m[1])) index.set(m[1], { pack: m[2], offset: Number(m[3]), length: Number(m[4]) });
  }
  return { index, readEnd: end + 1 };
}

export class SweepBusyError extends Error {}

function writerAlive(pack: string): boolean {
  const pid = Number(PACK_NAME.exec(pack)?.[1]);
  return !!pid && pid !== process.pid && processAlive(pid);
}

/**
 * `unaccounted`: snapshots the agent did not send the chunks of (listed after the epoch is bumped); any aborts the
 * sweep before it deletes anything, and the caller asks the agent for them.
 */
export interface SweepJob {
  store: DeviceStore;
  state: DevicePruneState;
  /** Whether a chunk stays (live, or touched since the mark). */
  keep: (id: string) => boolean;
  opts: SweepOptions;
  unaccounted: () => Promise<string[]>;
}

export async function sweep(job: SweepJob): Promise<SweepStats | { unaccounted: string[] }> {
  const release = await acquireSweepLock(job.store.dir);
  if (!release) throw new SweepBusyError('another server process is sweeping this device: try again when it has finished');
  try {
    return await job.store.withCommitsPaused(() => sweepLocked(job), { drainRegions: true });
  } finally {
    await release();
  }
}

async function sweepLocked({ store, state, keep, opts, unaccounted }: SweepJob): Promise<SweepStats | { unaccounted: string[] }> {
  const dir = store.dir;
  const { index, readEnd } = await readIndexLog(dir);
  const packDir = join(dir, 'packs');
  const files = (await readdir(packDir)).filter((n) => n.endsWith('.pack'));
  const sizes = new Map<string, number>();
  for (const f of files) sizes.set(f, (await stat(join(packDir, f))).size);

  const plans = new Map<string, PackPlan>();
  for (const [id, loc] of index) {
    let p = plans.get(loc.pack);
    if (!p) {
      p = { name: loc.pack, size: sizes.get(loc.pack) ?? 0, kept: [], unused: [], action: 'keep' };
      plans.set(loc.pack, p);
    }
    (keep(id) ? p.kept : p.unused).push([id, loc]);
  }
  const stats = newSweepStats(
    index.size,
    [...sizes.values()].reduce((a, b) => a + b, 0),
  );
  const remove: string[] = [];
  // Packs no line names: left by a crash (a process's unindexed tail, an interrupted sweep). A live process's
  // packs are left alone: it may be appending to one whose lines are not written yet.
  for (const f of files) {
    if (plans.has(f) || writerAlive(f)) continue;
    remove.push(f);
    stats.orphanPacks++;
  }
  for (const p of plans.values()) {
    if (p.unused.length === 0 || writerAlive(p.name)) {
      stats.unusedKept += p.unused.length;
      continue;
    }
    const liveBytes = p.kept.reduce((n, [, l]) => n + l.length, 0);
    if (p.kept.length === 0) p.action = 'delete';
    else if ((p.size - liveBytes) * 100 > opts.maxUnusedPercent * p.size) p.action = 'rewrite';
    else {
      stats.unusedKept += p.unused.length;
      continue;
    }
    remove.push(p.name);
    if (p.action === 'delete') stats.packsDeleted++;
    else {
      stats.packsRewritten++;
      stats.bytesCopied += liveBytes;
    }
    stats.chunksDeleted += p.unused.length;
    stats.chunkBytesDeleted += p.unused.reduce((n, [, l]) => n + l.length, 0);
  }
  const removedBytes = remove.reduce((n, f) => n + (sizes.get(f) ?? 0), 0);
  stats.packBytesAfter = stats.packBytesBefore - removedBytes + stats.bytesCopied;
  if (opts.dryRun || remove.length === 0) {
    const unknown = await unaccounted();
    return unknown.length > 0 ? { unaccounted: unknown } : stats;
  }

  const rewrite = [...plans.values()].filter((p) => p.action === 'rewrite');
  const moved = await rewritePacks(packDir, rewrite);
  const lines: string[] = [];
  for (const [id, loc] of index) {
    const plan = plans.get(loc.pack)!;
    if (plan.action === 'delete') continue;
    const at = plan.action === 'rewrite' ? moved.get(id) : loc;
    if (at) lines.push(`${id} ${at.pack} ${at.offset} ${at.length}\n`);
  }
  await state.bumpEpoch();
  const unknown = await unaccounted();
  if (unknown.length > 0) {
    const fresh = new Set([...moved.values()].map((l) => l.pack));
    for (const f of fresh) await rm(join(packDir, f), { force: true });
    return { unaccounted: unknown };
  }
  await swapIndex(dir, lines.join(''), readEnd);
  await store.reopenIndex(remove);
  for (const f of remove) await rm(join(packDir, f), { force: true });
  await fsyncDir(packDir);
  return stats;
}

/** Copies the kept chunks of `plans` into one new pack (fsynced); their new locations by id. */
async function rewritePacks(packDir: string, plans: PackPlan[]): Promise<Map<string, Location>> {
  const moved = new Map<string, Location>();
  if (plans.length === 0) return moved;
  const name = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}.pack`;
  const out = await open(join(packDir, name), 'wx', 0o600);
  try {
    let offset = 0;
    for (const p of plans) {
      const src = await open(join(packDir, p.name), 'r');
      try {
        const kept = [...p.kept].sort((a, b) => a[1].offset - b[1].offset);
        for (const [id, loc] of kept) {
          for (let done = 0; done < loc.length; ) {
            const buf = Buffer.allocUnsafe(Math.min(COPY_PIECE, loc.length - done));
            const { bytesRead } = await src.read(buf, 0, buf.length, loc.offset + done);
            if (bytesRead !== buf.length) throw new Error(`pack ${p.name} is shorter than its index says (chunk ${id})`);
            for (let w = 0; w < bytesRead; ) w += (await out.write(buf, w, bytesRead - w)).bytesWritten;
            done += bytesRead;
          }
          moved.set(id, { pack: name, offset, length: loc.length });
          offset += loc.length;
        }
      } finally {
        await src.close();
      }
    }
    await out.datasync();
  } finally {
    await out.close();
  }
  await fsyncDir(packDir);
  return moved;
}
