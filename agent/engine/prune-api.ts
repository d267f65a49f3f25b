// forget, prune and check as the CLI, the service and the extension call them (agent-api.ts style: the loaded agent
// config; the device's remote store unless a store is given, e.g. a local store folder).
import type { LoadedAgentConfig } from '../config.js';
import { isPrunable, type PrunableStore } from '../prune-store.js';
import type { ChunkStore } from '../store.js';
import { openStore, type StoreChoice } from './agent-api.js';
import { checkStore, type CheckResult } from './check.js';
import { deriveKeys, loadDeviceKey, type EngineKeys } from './keys.js';
import { forgetSnapshots, pruneStore, type ForgetResult, type PruneOptions, type PruneResult } from './prune.js';
import type { RetentionPolicy } from './retention.js';

async function withStore<T>(loaded: LoadedAgentConfig, choice: StoreChoice, work: (store: PrunableStore, keys: EngineKeys) => Promise<T>): Promise<T> {
  const keys = deriveKeys(loadDeviceKey(loaded.state.deviceKey, false));
  const { store, owned } = await openStore(loaded, choice);
  try {
    if (!isPrunable(store)) throw new Error('this store cannot delete snapshots or chunks');
    return await work(store, keys);
  } finally {
    if (owned) await store.close();
  }
}

/** The fleet's policy (agent.json backup.retention), or undefined when none is set. */
export function configuredRetention(loaded: LoadedAgentConfig): RetentionPolicy | undefined {
  const r = loaded.config.backup.retention;
  return r && Object.values(r).some((n) => typeof n === 'number' && n > 0) ? r : undefined;
}

export interface RunForgetOptions extends StoreChoice {
  /** Overrides the configured policy rule by rule. */
  policy?: RetentionPolicy;
  dryRun?: boolean;
  /** Prune afterwards (only when something was forgotten). */
  prune?: boolean | PruneOptions;
}

export interface ForgetAndPrune extends ForgetResult {
  prune?: PruneResult;
}

export async function runForget(loaded: LoadedAgentConfig, opts: RunForgetOptions = {}): Promise<ForgetAndPrune> {
  const policy = { ...(loaded.config.backup.retention ?? {}), ...opts.policy };
  return withStore(loaded, opts, async (store, keys) => {
    const result: ForgetAndPrune = await forgetSnapshots(store, keys, policy, opts.dryRun);
    if (opts.prune && result.forget.length > 0) {
      const pruneOpts = typeof opts.prune === 'object' ? opts.prune : {};
      const assumeForgotten = new Set(result.forget.map((f) => f.id));
      result.prune = await pruneStore(store, keys, { log: opts.log, ...pruneOpts, dryRun: opts.dryRun, assumeForgotten });
    }
    return result;
  });
}

export async function runPrune(loaded: LoadedAgentConfig, opts: StoreChoice & PruneOptions = {}): Promise<PruneResult> {
  return withStore(loaded, opts, (store, keys) => pruneStore(store, keys, { log: opts.log, ...opts }));
}

export async function runCheck(
  loaded: LoadedAgentConfig,
  opts: StoreChoice & { readData?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<CheckResult> {
  const keys = deriveKeys(loadDeviceKey(loaded.state.deviceKey, false));
  const { store, owned } = await openStore(loaded, opts);
  try {
    return await checkStore(store as ChunkStore, keys, opts);
  } finally {
    if (owned) await store.close();
  }
}

/** The service after a successful backup: forget what the fleet's policy does not keep, then prune. Never throws. */
export async function retentionAfterBackup(loaded: LoadedAgentConfig, log: (line: string) => void): Promise<void> {
  if (!configuredRetention(loaded)) return;
  try {
    const r = await runForget(loaded, { prune: true, log });
    const p = r.prune;
    log(
      `retention: kept ${r.keep.length} snapshot(s), forgot ${r.forget.length}` +
        (p ? `; prune deleted ${p.chunksDeleted} chunks, packs ${p.packBytesBefore} -> ${p.packBytesAfter} bytes` : ''),
    );
  } catch (err) {
    log(`retention failed: ${(err as Error).message} (the backup itself succeeded; it is tried again after the next backup)`);
  }
}
