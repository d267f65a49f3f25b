// FORGET and the prune requests of one session (mark: PRUNE_BEGIN, live ids: PRUNE_LIVE, sweep: PRUNE_SWEEP).
// A prune belongs to the session that began it: when the session ends (agent killed, connection lost) it is
// dropped and nothing is deleted; the agent begins again. docs/design.md "Prune" has the whole protocol.
import { randomBytes } from 'node:crypto';
import { CHUNK_ID_RE, MessageType, SNAPSHOT_ID_RE } from '../protocol/messages.js';
import type { PruneSweepReply } from '../protocol/prune-messages.js';
import type { DeviceStore } from './storage/device-store.js';
import { pruneState, PruneRequestError, type DevicePruneState } from './storage/prune-state.js';
import { SweepBusyError, sweep } from './storage/prune-sweep.js';

export { PruneRequestError } from './storage/prune-state.js';

const MAX_IDS = 100_000;
const DEFAULT_MAX_UNUSED_PERCENT = 5;

export const PRUNE_MESSAGE_TYPES: ReadonlySet<number> = new Set([MessageType.FORGET, MessageType.PRUNE_BEGIN, MessageType.PRUNE_LIVE, MessageType.PRUNE_SWEEP]);

export class PruneRequests {
  private owned: { state: DevicePruneState; store: DeviceStore; id: string } | undefined;

  constructor(private readonly log: (line: string) => void) {}

  async handle(type: number, h: Record<string, unknown>, store: DeviceStore): Promise<object> {
    const state = await pruneState(store);
    switch (type) {
      case MessageType.FORGET: {
        const ids = list(h.ids, 'ids', SNAPSHOT_ID_RE);
        const deleted: string[] = [];
        await state.lock.run(async () => {
          for (const id of ids) if (await store.deleteSnapshot(id)) deleted.push(id);
        });
        this.log(`forget: deleted ${deleted.length} snapshot(s) of ${store.dir}`);
        return { deleted };
      }
      case MessageType.PRUNE_BEGIN: {
        if (state.active) throw new PruneRequestError('busy', 'another prune of this device is running: try again when it has finished');
        const id = randomBytes(8).toString('hex');
        state.active = { id, live: new Set() };
        store.touched = new Set();
        this.owned = { state, store, id };
        return { pruneId: id, epoch: state.epoch };
      }
      case MessageType.PRUNE_LIVE: {
        const active = this.mine(state, h.pruneId);
        for (const id of list(h.ids, 'ids', CHUNK_ID_RE)) active.live.add(id);
        return { live: active.live.size };
      }
      case MessageType.PRUNE_SWEEP: {
        const active = this.mine(state, h.pruneId);
        const declared = new Set(list(h.snapshots, 'snapshots', SNAPSHOT_ID_RE));
        const maxUnused = h.maxUnusedPercent ?? DEFAULT_MAX_UNUSED_PERCENT;
        if (typeof maxUnused !== 'number' || !(maxUnused >= 0 && maxUnused <= 100))
          throw new PruneRequestError('bad-request', `maxUnusedPercent ${JSON.stringify(maxUnused)?.slice(0, 40)} is not allowed (expected 0 to 100)`);
        const dryRun = h.dryRun === true;
        const reply = await state.lock.run(async (): Promise<PruneSweepReply> => {
          // A snapshot stored since the agent listed them may use chunks found before the mark: it must be read too.
          const unaccounted = async () => (await store.listSnapshots()).map((s) => s.id).filter((id) => !declared.has(id));
          const touched = store.touched ?? new Set<string>();
          const keep = (id: string) => active.live.has(id) || touched.has(id);
          let r: Awaited<ReturnType<typeof sweep>>;
          try {
            r = await sweep({ store, state, keep, opts: { dryRun, maxUnusedPercent: maxUnused }, unaccounted });
          } catch (err) {
            if (err instanceof SweepBusyError) throw new PruneRequestError('busy', err.message);
            throw err;
          }
          if ('unaccounted' in r) return { retry: true, snapshots: r.unaccounted };
          return { retry: false, epoch: state.epoch, ...r };
        });
        if (!reply.retry) {
          this.end();
          this.log(
            `prune${dryRun ? ' (dry run)' : ''} of ${store.dir}: ${reply.chunksDeleted} chunks (${reply.chunkBytesDeleted} bytes) deleted, ` +
              `packs ${reply.packBytesBefore} -> ${reply.packBytesAfter} bytes`,
          );
        }
        return reply;
      }
      default:
        throw new PruneRequestError('bad-request', `unknown message type ${type}`);
    }
  }

  private mine(state: DevicePruneState, pruneId: unknown) {
    const active = state.active;
    if (!active || !this.owned || this.owned.id !== active.id || pruneId !== active.id)
      throw new PruneRequestError('not-found', `prune ${JSON.stringify(pruneId)?.slice(0, 40)} is not running in this session: begin again`);
    return active;
  }

  /** The session ended (or the sweep finished): the mark is dropped. */
  end(): void {
    const o = this.owned;
    this.owned = undefined;
    if (!o || o.state.active?.id !== o.id) return;
    o.state.active = undefined;
    o.store.touched = undefined;
  }
}

function list(v: unknown, field: string, re: RegExp): string[] {
  if (!Array.isArray(v) || v.length > MAX_IDS) throw new PruneRequestError('bad-request', `${field} must be a list of at most ${MAX_IDS} ids`);
  for (const id of v)
    if (typeof id !== 'string' || !re.test(id))
      throw new PruneRequestError('bad-request', `${field}: ${JSON.stringify(id)?.slice(0, 80)} is not allowed (expected ${re.source})`);
  return v as string[];
}
