// `ls` and `versions` for the CLI and the extension (through the CLI's --json): the device's store and key.
import type { LoadedAgentConfig } from '../config.js';
import { type StoreChoice, withStore } from './agent-api.js';
import { loadDeviceKey } from './keys.js';
import { fileVersions, listSnapshotFiles, type FileVersions, type SnapshotListing } from './versions.js';

/** The files of a snapshot ("latest", an id or a unique prefix), in one folder or below it. */
export function runListFiles(
  loaded: LoadedAgentConfig,
  snapshot: string,
  opts: StoreChoice & { path?: string; recursive?: boolean } = {},
): Promise<SnapshotListing> {
  const deviceKey = loadDeviceKey(loaded.state.deviceKey, false);
  return withStore(loaded, opts, (store) => listSnapshotFiles(store, deviceKey, snapshot, opts));
}

/** Every stored version of one file, newest first. */
export function runFileVersions(loaded: LoadedAgentConfig, path: string, opts: StoreChoice = {}): Promise<FileVersions> {
  const deviceKey = loadDeviceKey(loaded.state.deviceKey, false);
  return withStore(loaded, opts, (store) => fileVersions(store, deviceKey, path));
}
