// forget (apply a retention policy: delete the snapshots it does not keep) and prune (delete the chunks no kept
// snapshot uses). The store cannot read snapshots, so the agent says what is live; the protocol (mark, live ids,
// sweep) and why a backup running meanwhile is safe are in docs/design.md "Prune".
import type { SnapshotInfo } from '../store.js';
import type { PrunableStore } from '../prune-store.js';
import type { SweepStats } from '../../protocol/prune-messages.js';
import { openSnapshot } from './codec.js';
import type { EngineKeys } from './keys.js';
import { applyRetention, type RetentionPolicy } from './retention.js';
import { listSnapshots, loadSnapshot, SnapshotNotFoundError, type Snapshot } from './snapshot.js';
import { chunkFiles } from './snapshot-chunks.js';
import { commitSnapshot } from './snapshot-commit.js';

export interface ForgetResult {
  keep: Array<SnapshotInfo & { reasons: string[] }>;
  forget: SnapshotInfo[];
  /** Kept deltas whose base was forgotten, stored again in full (same id, same entries). */
  rewritten: string[];
  dryRun: boolean;
}

/** The base a stored snapshot builds on (undefined: a full snapshot). */
async function baseOf(store: PrunableStore, keys: EngineKeys, id: string): Promise<string | undefined> {
  const snap = JSON.parse(openSnapshot(keys, id, await store.getSnapshot(id)).toString('utf8')) as { base?: unknown };
  return typeof snap.base === 'string' ? snap.base : undefined;
}

export async function forgetSnapshots(store: PrunableStore, keys: EngineKeys, policy: RetentionPolicy, dryRun = false): Promise<ForgetResult> {
  const { keep, forget } = applyRetention(await listSnapshots(store), policy);
  const gone = new Set(forget.map((s) => s.id));
  const rewrite: string[] = [];
  for (const s of keep) {
    const base = await baseOf(store, keys, s.id);
    if (base !== undefined && gone.has(base)) rewrite.push(s.id);
  }
  if (dryRun || forget.length === 0) return { keep, forget, rewritten: rewrite, dryRun };
  // Resolve every rewrite before storing any: a delta's chain may run through another one rewritten here.
  const full: Snapshot[] = [];
  for (const id of rewrite) full.push(await loadSnapshot(store, keys, id));
  for (const snap of full) await commitSnapshot(store, keys, snap);
  await store.forgetSnapshots(forget.map((s) => s.id));
  return { keep, forget, rewritten: rewrite, dryRun };
}

export interface PruneOptions {
  dryRun?: boolean;
  /** Rewrite a pack when more than this percentage of it is unused (default 5, as restic's --max-unused). */
  maxUnusedPercent?: number;
  /** Notes on progress (restarts after a lost prune). */
  log?: (line: string) => void;
  /** Dry run after a dry-run forget: these snapshots count as gone (their chunks are not live). */
  assumeForgotten?: ReadonlySet<string>;
}

export interface PruneResult extends SweepStats {
  snapshots: number;
  liveChunks: number;
  dryRun: boolean;
  /** Times the prune began again (the server restarted or the connection was lost mid-prune). */
  restarts: number;
  durationMs: number;
}

const PRUNE_ATTEMPTS = 5;

/** The codes that mean the server lost this prune (restarted, or the session ended): begin again. */
const LOST = new Set(['not-found']);

export async function pruneStore(store: PrunableStore, keys: EngineKeys, opts: PruneOptions = {}): Promise<PruneResult> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return { ...(await pruneOnce(store, keys, opts)), restarts: attempt, durationMs: Date.now() - started };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (!code || !LOST.has(code) || attempt + 1 >= PRUNE_ATTEMPTS) throw err;
      opts.log?.(`the prune was interrupted (${(err as Error).message}); beginning again`);
    }
  }
}

async function pruneOnce(store: PrunableStore, keys: EngineKeys, opts: PruneOptions): Promise<Omit<PruneResult, 'restarts' | 'durationMs'>> {
  const pruneId = await store.pruneBegin();
  // Listed after the mark: a snapshot stored later is caught by the sweep (it asks for it), its chunks by the mark.
  const declared: string[] = [];
  const live = new Set<string>();
  const addSnapshots = async (ids: string[]) => {
    const fresh: string[] = [];
    for (const id of ids) {
      if (opts.assumeForgotten?.has(id) && opts.dryRun) {
        declared.push(id);
        continue;
      }
      let snap: Snapshot;
      try {
        snap = await loadSnapshot(store, keys, id);
      } catch (err) {
        // Gone since it was listed (a snapshot the server withdrew, or forgotten): nothing of it to keep.
        if (!(err instanceof SnapshotNotFoundError)) throw err;
        declared.push(id);
        continue;
      }
      for (const chunk of chunkFiles(snap).keys())
        if (!live.has(chunk)) {
          live.add(chunk);
          fresh.push(chunk);
        }
      declared.push(id);
    }
    await store.pruneLive(pruneId, fresh);
  };
  await addSnapshots((await listSnapshots(store)).map((s) => s.id));
  for (;;) {
    const reply = await store.pruneSweep(pruneId, { snapshots: declared, dryRun: opts.dryRun, maxUnusedPercent: opts.maxUnusedPercent });
    if (!reply.retry) {
      const { retry: _r, epoch: _e, ...stats } = reply;
      return {
        ...stats,
        snapshots: declared.length - (opts.dryRun ? (opts.assumeForgotten?.size ?? 0) : 0),
        liveChunks: live.size,
        dryRun: opts.dryRun === true,
      };
    }
    await addSnapshots(reply.snapshots);
  }
}
