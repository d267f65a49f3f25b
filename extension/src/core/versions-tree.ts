// The agent view's snapshots and one file's versions, as tree rows (shown once listed: Holdfast: Snapshots & Versions).
import { formatBytes, formatWhen } from './format.js';
import type { FileVersions } from './agent-versions.js';
import type { NodeSpec } from './tree-model.js';
import type { SnapshotInfo } from '../../../agent/store.js';

export interface VersionsViewState {
  snapshots: SnapshotInfo[];
  /** The file whose versions were asked for last. */
  versions?: FileVersions;
}

/** `busy`: a snapshots or versions action of the agent is running (shown on the Snapshots row). */
export function versionsNodes(v: VersionsViewState | undefined, now: Date = new Date(), busy = false): NodeSpec[] {
  if (!v) return [];
  const nodes: NodeSpec[] = [
    {
      id: 'agent/snapshots',
      label: 'Snapshots',
      description: busy
        ? 'running…'
        : v.snapshots.length === 0
          ? 'none yet'
          : `${v.snapshots.length} · latest ${formatWhen(new Date(v.snapshots[0].time), now)}`,
      icon: { id: busy ? 'loading~spin' : 'history' },
      collapsible: v.snapshots.length > 0 ? 'collapsed' : undefined,
      tooltip: 'Snapshots of the test agent, newest first. Click one to pick a file in it and see every stored version of that file.',
      children: v.snapshots.map((s) => ({
        id: `agent/snapshot/${s.id}`,
        label: s.id,
        description: `${formatWhen(new Date(s.time), now)} · ${formatBytes(s.size)}`,
        icon: { id: 'archive' },
        command: { command: 'holdfast.fileVersions', title: 'Show File Versions', arguments: [s.id] },
      })),
    },
  ];
  if (v.versions) {
    const f = v.versions;
    nodes.push({
      id: 'agent/versions',
      label: `Versions of ${f.path.split('/').at(-1)}`,
      description: `${f.versions.length} version${f.versions.length === 1 ? '' : 's'}`,
      icon: { id: 'versions' },
      collapsible: 'expanded',
      tooltip: `Every stored version of ${f.path}, newest first. Click one to restore it into a new folder.`,
      children: f.versions.map((x) => ({
        id: `agent/version/${f.path}/${x.version}`,
        label: `${x.version}. ${formatWhen(new Date(x.mtime), now)}`,
        description: `${formatBytes(x.size)} · snapshot ${x.snapshot}`,
        icon: { id: 'file' },
        tooltip: `Modified ${x.mtime}, ${x.size} bytes; in ${x.snapshots.length} snapshot(s). Click to restore this version.`,
        command: { command: 'holdfast.restoreFileVersion', title: 'Restore This Version', arguments: [f.path, x.version] },
      })),
    });
  }
  return nodes;
}
