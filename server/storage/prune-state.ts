// A device's prune state on the server: the prune epoch (prune.json, +1 at every sweep that deletes), the lock that
// orders snapshot writes against a sweep's commit, and the prune in progress (at most one per device).
// Why an epoch: a backup that began before a sweep may hold answers ("the server has chunk X") that the sweep made
// false. Its PUT_SNAPSHOT names the epoch it began in; a newer epoch refuses it (stale-epoch) until the agent has
// checked its chunks again (docs/design.md "Prune").
import { readFile } from 'node:fs/promises';
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

  private constructor(
    private readonly store: DeviceStore,
    public epoch: number,
  ) {}

  static async load(store: DeviceStore): Promise<DevicePruneState> {
    let epoch = 0;
    try {
      const saved = JSON.parse(await readFile(join(store.dir, STATE_FILE), 'utf8')) as { epoch?: unknown };
      if (Number.isSafeInteger(saved.epoch) && (saved.epoch as number) >= 0) epoch = saved.epoch as number;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new DevicePruneState(store, epoch);
  }

  /** Written before a sweep's commit: a crash after it leaves a newer epoch and nothing deleted (only conservative). */
  async bumpEpoch(): Promise<number> {
    const next = this.epoch + 1;
    await writeFileAtomic(join(this.store.dir, STATE_FILE), JSON.stringify({ epoch: next }));
    this.epoch = next;
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
  return (await pruneState(store)).epoch;
}

/** PUT_SNAPSHOT: refused when a sweep committed since the epoch the backup began in (an older agent sends none). */
export async function putSnapshotChecked(store: DeviceStore, id: string, time: string, data: Buffer, epoch: unknown): Promise<void> {
  if (epoch !== undefined && (!Number.isSafeInteger(epoch) || (epoch as number) < 0))
    throw new PruneRequestError('bad-request', `epoch ${JSON.stringify(epoch)?.slice(0, 40)} is not allowed (expected a whole number >= 0)`);
  const state = await pruneState(store);
  await state.lock.run(async () => {
    if (epoch !== undefined && (epoch as number) < state.epoch)
      throw new PruneRequestError(
        'stale-epoch',
        `a prune deleted chunks after this backup began (epoch ${epoch}, now ${state.epoch}): check the snapshot's chunks again`,
      );
    await store.putSnapshot(id, time, data);
  });
}
