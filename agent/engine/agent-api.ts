// The engine's agent-level API: what the CLI, the service and the VS Code extension call. Each takes the loaded
// agent config; the store is the device's remote store unless one is given (tests, local store folders).
import { readFileSync } from 'node:fs';
import { resolveBackupSet } from '../backup-set.js';
import type { LoadedAgentConfig } from '../config.js';
import { expandProfiles } from '../profiles.js';
import { openRemoteStore, ServersUnreachableError } from '../remote-store.js';
import { ConnectionLostError } from '../../protocol/connection.js';
import { readRegistration, recordBackupResult } from '../state.js';
import type { ChunkStore, SnapshotInfo } from '../store.js';
import { backupFolders, type BackupProgress, type BackupResult } from './backup.js';
import { ensureEscrow, recoverDeviceKey } from './escrow.js';
import { backupExclusions, excludeFilter, keptWarnings } from './guard.js';
import { loadDeviceKey } from './keys.js';
import { LocalStore } from './local-store.js';
import { outcomeOf, SKIPPED_PATHS_KEPT, summarizeSkipped } from './skipped.js';
import { restoreSnapshot, type OwnerChoice, type RestoreProgress, type RestoreResult } from './restore.js';
import { listSnapshots } from './snapshot.js';
import { buildHealthReport, canReport, sendHealthReport } from '../health-report.js';
import type { LastResult } from '../state.js';
import { PrunedDuringBackupError } from './snapshot-commit.js';

export interface StoreChoice {
  /** Use this store (e.g. a LocalStore) instead of the device's servers. */
  store?: ChunkStore;
  /** Progress/failover notes from the remote store (no secrets). */
  log?: (line: string) => void;
  /** Upload limit in KiB/s for this run (backup --limit-upload); default: backup.uploadLimitKiBps of the config; 0: none. */
  uploadLimitKiBps?: number;
}

export async function openStore(loaded: LoadedAgentConfig, choice: StoreChoice): Promise<{ store: ChunkStore; owned: boolean }> {
  if (choice.store) return { store: choice.store, owned: false };
  const uploadLimitKiBps = choice.uploadLimitKiBps ?? loaded.config.backup.uploadLimitKiBps;
  return { store: await openRemoteStore(loaded, { log: choice.log, uploadLimitKiBps }), owned: true };
}

/** Tells the device's backup server how the attempt went (fleet health); a store that cannot carry it is skipped. */
async function reportAttempt(loaded: LoadedAgentConfig, store: ChunkStore | undefined, recorded: LastResult | undefined, log?: (line: string) => void) {
  if (!recorded || !canReport(store)) return;
  await sendHealthReport(store, await buildHealthReport(loaded, recorded), log);
}

/** A failure before the store was opened (backup set, device key) is reported over a short-lived connection of its own. */
async function reportEarlyFailure(loaded: LoadedAgentConfig, recorded: LastResult | undefined, log?: (line: string) => void) {
  const store = await openRemoteStore(loaded, { log, retryRounds: 1 }).catch(() => undefined);
  try {
    await reportAttempt(loaded, store, recorded, log);
  } finally {
    await store?.close();
  }
}

/** Runs `work` on the device's store (or the one given), closing a store it opened. */
export async function withStore<T>(loaded: LoadedAgentConfig, choice: StoreChoice, work: (store: ChunkStore) => Promise<T>): Promise<T> {
  const { store, owned } = await openStore(loaded, choice);
  try {
    return await work(store);
  } finally {
    if (owned) await store.close();
  }
}

/** Open a local store folder (`--store DIR` on the command line). */
export function openLocalStore(dir: string): ChunkStore {
  return LocalStore.open(dir);
}

export interface RunBackupOptions extends StoreChoice {
  /** Let excludes drop protected paths too (without it a backup keeps them, with a warning). */
  force?: boolean;
  threads?: number;
  onProgress?: (p: BackupProgress) => void;
  onWarning?: (message: string) => void;
}

/** "Backup Now": guard check, device key (created on first use), key escrow, backup, result recorded for status. */
export async function runBackup(loaded: LoadedAgentConfig, opts: RunBackupOptions = {}): Promise<BackupResult> {
  const startedAt = new Date().toISOString();
  const { config, state, stateDir } = loaded;
  let store: ChunkStore | undefined;
  let owned = false;
  try {
    const set = await resolveBackupSet(loaded);
    const expand = (list: string[]) => expandProfiles(list, set.profiles?.profiles ?? []);
    const filter = excludeFilter(backupExclusions(stateDir, set.exclude, set.protectedPaths, opts.force, expand));
    const deviceKey = loadDeviceKey(state.deviceKey, true);
    ({ store, owned } = await openStore(loaded, opts));
    if (config.escrowPublicKeyPem) {
      const reg = await readRegistration(state).catch(() => undefined);
      await ensureEscrow(store, deviceKey, config.escrowPublicKeyPem, reg?.deviceId);
    }
    const backup = (s: ChunkStore) =>
      backupFolders({
        store: s,
        deviceKey,
        roots: set.roots,
        isExcluded: filter.isExcluded,
        cachePath: state.changeCache,
        threads: opts.threads,
        onProgress: opts.onProgress,
        onWarning: opts.onWarning,
      });
    const result = await backup(store).catch((err: unknown) => {
      // A prune deleted chunks this backup relied on (snapshot-commit.ts): once more reads what is gone.
      if (!(err instanceof PrunedDuringBackupError)) throw err;
      opts.onWarning?.(err.message);
      return backup(store!);
    });
    const kept = [...filter.kept.values()];
    const empty = set.roots.length === 0 && set.profiles ? [`no user profiles found (in ${set.profiles.source}): nothing to back up`] : [];
    for (const w of [...empty, ...keptWarnings(kept)]) {
      result.warnings.push(w);
      opts.onWarning?.(w);
    }
    const recorded = await recordBackupResult(state, {
      ok: true,
      outcome: outcomeOf(result),
      ...(result.warnings.length > 0 && { warnings: result.warnings.length }),
      ...(result.skipped.length > 0 && { skipped: summarizeSkipped(result.skipped) }),
      ...(kept.length > 0 && { protectedKept: kept }),
      startedAt,
      finishedAt: new Date().toISOString(),
      snapshotId: result.snapshotId,
      files: result.files,
      bytes: result.bytes,
      bytesUploaded: result.bytesUploaded,
      durationMs: result.durationMs,
      ...(result.changedDuringBackup.length > 0 && {
        changedDuringBackup: { count: result.changedDuringBackup.length, paths: result.changedDuringBackup.slice(0, SKIPPED_PATHS_KEPT) },
      }),
    });
    await reportAttempt(loaded, store, recorded, opts.log);
    return result;
  } catch (err) {
    const recorded = await recordBackupResult(state, {
      ok: false,
      outcome: 'failed',
      startedAt,
      finishedAt: new Date().toISOString(),
      error: (err as Error).message,
    }).catch(() => undefined);
    // Servers out of reach take no report either: trying would only hold the failure up.
    if (err instanceof ServersUnreachableError || err instanceof ConnectionLostError) throw err;
    if (store) await reportAttempt(loaded, store, recorded, opts.log);
    else if (!opts.store) await reportEarlyFailure(loaded, recorded, opts.log);
    throw err;
  } finally {
    if (owned) await store?.close();
  }
}

export interface RunRestoreOptions extends StoreChoice {
  snapshot?: string;
  subpath?: string;
  /** Restore into this folder; without it, to the original place. */
  target?: string;
  owner?: OwnerChoice;
  onProgress?: (p: RestoreProgress) => void;
}

/** What a restore was asked for, the same for the device's own key and an escrowed one. */
type RestoreRequest = Pick<RunRestoreOptions, 'snapshot' | 'subpath' | 'target' | 'owner' | 'onProgress'>;

function restoreWithKey(store: ChunkStore, deviceKey: Uint8Array, r: RestoreRequest): Promise<RestoreResult> {
  const { snapshot = 'latest', subpath, target, owner, onProgress } = r;
  return restoreSnapshot({ store, deviceKey, snapshot, subpath, target, owner, onProgress });
}

/** "Heal": restore a snapshot (or part of it) with this device's key. */
export async function runRestore(loaded: LoadedAgentConfig, opts: RunRestoreOptions = {}): Promise<RestoreResult> {
  const deviceKey = loadDeviceKey(loaded.state.deviceKey, false);
  const { store, owned } = await openStore(loaded, opts);
  try {
    return await restoreWithKey(store, deviceKey, opts);
  } finally {
    if (owned) await store.close();
  }
}

/** The device's snapshots, newest first. */
export async function runListSnapshots(loaded: LoadedAgentConfig, opts: StoreChoice = {}): Promise<SnapshotInfo[]> {
  const { store, owned } = await openStore(loaded, opts);
  try {
    return await listSnapshots(store);
  } finally {
    if (owned) await store.close();
  }
}

export interface EscrowRestoreOptions {
  /** The device's store (its remote store, opened with the device's registration, or a local store folder). */
  store: ChunkStore;
  /** Company private key file (PEM). */
  companyKeyFile: string;
  passphrase?: string;
  snapshot?: string;
  subpath?: string;
  target: string;
  owner?: OwnerChoice;
  onProgress?: (p: RestoreProgress) => void;
}

/** Admin restore without the device key: unwrap it from the escrow record with the company private key. */
export async function runEscrowRestore(opts: EscrowRestoreOptions): Promise<RestoreResult> {
  const pem = readFileSync(opts.companyKeyFile, 'utf8');
  const deviceKey = await recoverDeviceKey(opts.store, pem, opts.passphrase);
  return restoreWithKey(opts.store, deviceKey, opts);
}
