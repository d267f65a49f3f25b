// A device's prune state on the server: the prune epoch (prune.json, +1 at every sweep that deletes), the lock that
// orders snapshot writes against a sweep's commit, and the prune in progress (at most one per device).
// Why an epoch: a backup that began before a sweep may hold answers ("the server has chunk X") that the sweep made
// false. Its PUT_SNAPSHOT names the epoch it began in; a newer epoch refuses it (stale-epoch) until the agent has
// checked its chunks again (docs/design.md "Prune").
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { DeviceStore } from './device-store.js';

const STATE_FILE = 'prune.json';

/** A refused prune request (the session sends its code and message). */
export class PruneRequestError extends Error {
  constructor(
    readonly code: 'bad-request' | 'busy' | 'not-found' | 'stale-epoch',
    message: string,
  ) {
    super(message);
  }
}

/** Runs callers one at a time, in order. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work);
    this.tail = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }
}

export interface ActivePrune {
  id: string;
  live: Set<string>;
}

export class DevicePruneState {
  readonly lock = new Mutex();
  active: ActivePrune | undefined;

  /** prune.json as last read (inode and mtime): a change means another process may have swept. */
  private stamp = '';
  private refreshing: Promise<void> | undefined;

  private constructor(
    private readonly store: DeviceStore,
    public epoch: number,
  ) {}

  static async load(store: DeviceStore): Promise<DevicePruneState> {
    const s = new DevicePruneState(store, 0);
    await s.readFile();
    return s;
  }

  private async readFile(): Promise<boolean> {
    const path = join(this.store.dir, STATE_FILE);
    const st = await stat(path).catch(() => undefined);
    const stamp = st ? `${st.ino}:${st.mtimeMs}:${st.size}` : '';
    if (stamp === this.stamp) return false;
    this.stamp = stamp;
    let epoch = 0;
    try {
      const saved = JSON.parse(await readFile(path, 'utf8')) as { epoch?: unknown };
      if (Number.isSafeInteger(saved.epoch) && (saved.epoch as number) >= 0) epoch = saved.epoch as number;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (epoch <= this.epoch) return false;
    this.epoch = epoch;
    return true;
  }

  /**
   * Another server process on the data folder swept this device (prune.json's epoch grew): this process's index
   * and open packs are stale, so they are read afresh before anything is answered from them. One stat per request.
   */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        if (await this.readFile()) await this.store.withCommitsPaused(() => this.store.reopenIndex());
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** Written before a sweep's commit: a crash after it leaves a newer epoch and nothing deleted (only conservative). */
  async bumpEpoch(): Promise<number> {
    const next = this.epoch + 1;
    await writeFileAtomic(join(this.store.dir, STATE_FILE), JSON.stringify({ epoch: next }));
    this.epoch = next;
    await this.readFile();
    return next;
  }
}

const states = new WeakMap<DeviceStore, Promise<DevicePruneState>>();

export function pruneState(store: DeviceStore): Promise<DevicePruneState> {
  let s = states.get(store);
  if (!s) {
    s = DevicePruneState.load(store);
    states.set(store, s);
    s.catch(() => states.delete(store));
  }
  return s;
}

/** The epoch a reply reports: read before the lookup it goes with, so a sweep during the lookup makes it older, never newer. */
export async function pruneEpoch(store: DeviceStore): Promise<number> {
  const state = await pruneState(store);
  await state.refresh();
  return state.epoch;
}

/** PUT_SNAPSHOT: refused when a sweep committed since the epoch the backup began in (an older agent sends none). */
export async function putSnapshotChecked(store: DeviceStore, id: string, time: string, data: Buffer, epoch: unknown): Promise<void> {
  if (epoch !== undefined && (!Number.isSafeInteger(epoch) || (epoch as number) < 0))
    throw new PruneRequestError('bad-request', `epoch ${JSON.stringify(epoch)?.slice(0, 40)} is not allowed (expected a whole number >= 0)`);
  const state = await pruneState(store);
  const stale = () =>
    new PruneRequestError(
      'stale-epoch',
      `a prune deleted chunks after this backup began (epoch ${epoch}, now ${state.epoch}): check the snapshot's chunks again`,
    );
  await state.lock.run(async () => {
    await state.refresh();
    if (epoch === undefined) return store.putSnapshot(id, time, data);
    if ((epoch as number) < state.epoch) throw stale();
    const existed = await store.hasSnapshot(id);
    await store.putSnapshot(id, time, data);
    // A sweep in another process bumps the epoch before it lists the snapshots: either it listed this one (and asks
    // the agent for its chunks) or the epoch has grown by now. Then the snapshot may name deleted chunks: it goes.
    // (A snapshot stored again under its id, forget's full copy of a delta, names the same chunks as before.)
    await state.refresh();
    if ((epoch as number) < state.epoch && !existed) {
      await store.deleteSnapshot(id);
      throw stale();
    }
  });
}
