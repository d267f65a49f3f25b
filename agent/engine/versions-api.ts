// `ls` and `versions` for the CLI and the extension (through the CLI's --json): the device's store and key.
import type { LoadedAgentConfig } from '../config.js';
import { openStore, type StoreChoice } from './agent-api.js';
import { loadDeviceKey } from './keys.js';
import { fileVersions, listSnapshotFiles, type FileVersions, type SnapshotListing } from './versions.js';

/** The files of a snapshot ("latest", an id or a unique prefix), in one folder or below it. */
export async function runListFiles(
  loaded: LoadedAgentConfig,
  snapshot: string,
  opts: StoreChoice & { path?: string; recursive?: boolean } = {},
): Promise<SnapshotListing> {
  const deviceKey = loadDeviceKey(loaded.state.deviceKey, false);
  const { store, owned } = await openStore(loaded, opts);
  try {
    return await listSnapshotFiles(store, deviceKey, snapshot, opts);
  } finally {
    if (owned) await store.close();
  }
}

/** Every stored version of one file, newest first. */
export async function runFileVersions(loaded: LoadedAgentConfig, path: string, opts: StoreChoice = {}): Promise<FileVersions> {
  const deviceKey = loadDeviceKey(loaded.state.deviceKey, false);
  const { store, owned } = await openStore(loaded, opts);
  try {
    return await fileVersions(store, deviceKey, path);
  } finally {
    if (owned) await store.close();
  }
}
