// Snapshots and file versions of the sidebar's test agent: the agent CLI's `snapshots`, `ls`, `versions` (their
// --json output is the one format; the listing and the version logic live in agent/engine/versions.ts only).
import { join } from 'node:path';

import type { FileVersion, FileVersions, SnapshotListing } from '../../../agent/engine/versions.js';
import type { SnapshotInfo } from '../../../agent/store.js';
import type { TestAgent } from './agent-run.js';

export type { FileVersion, FileVersions, SnapshotListing };

/** The agent's snapshots, newest first. */
export async function agentSnapshots(agent: TestAgent): Promise<SnapshotInfo[]> {
  return (await agent.run('snapshots', ['snapshots', '--config', agent.configFile, '--json'])) as unknown as SnapshotInfo[];
}

/** Every file stored in a snapshot (snapshot paths, "<folder>/..."), for picking one. */
export async function snapshotFiles(agent: TestAgent, snapshot: string): Promise<SnapshotListing> {
  return (await agent.run('ls', ['ls', snapshot, '--recursive', '--config', agent.configFile, '--json'])) as unknown as SnapshotListing;
}

/** Every stored version of one file, newest first. */
export async function fileVersions(agent: TestAgent, path: string): Promise<FileVersions> {
  return (await agent.run('versions', ['versions', path, '--config', agent.configFile, '--json'])) as unknown as FileVersions;
}

/** Restores one version of a file into `targetDir` (as <targetDir>/<folder>/...); returns the restored file's path. */
export async function restoreFileVersion(agent: TestAgent, path: string, version: number, targetDir: string): Promise<string> {
  await agent.run('restore version', ['versions', path, '--restore', String(version), '--to', targetDir, '--config', agent.configFile, '--json']);
  return join(targetDir, ...path.split('/'));
}
