// Snapshots & versions of the test agent: list its snapshots, pick a file and see every stored version, restore one.
import * as vscode from 'vscode';
import { join } from 'node:path';

import { agentSnapshots, fileVersions, restoreFileVersion, snapshotFiles } from '../core/agent-versions.js';
import { formatBytes } from '../core/format.js';
import type { Services } from '../services.js';
import { register, runAgentAction, type Run } from './agent-commands.js';

async function listSnapshots(s: Services, run: Run) {
  await register(s, run);
  run.progress.report({ message: 'listing snapshots' });
  const snapshots = await agentSnapshots(run.agent);
  s.agent.versions = { ...s.agent.versions, snapshots };
  s.agentChanged.fire();
  return snapshots;
}

export function registerVersionsCommands(s: Services): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('holdfast.listSnapshots', () =>
      runAgentAction(s, 'versions', 'Snapshots & Versions', async (run) => {
        const list = await listSnapshots(s, run);
        return list.length === 0 ? 'no snapshots yet: run Backup Now' : `${list.length} snapshot${list.length === 1 ? '' : 's'}, latest ${list[0].id}`;
      }),
    ),

    vscode.commands.registerCommand('holdfast.fileVersions', (snapshotArg?: unknown) =>
      runAgentAction(s, 'versions', 'File versions', async (run) => {
        const list = await listSnapshots(s, run);
        if (list.length === 0) return 'no snapshots yet: run Backup Now';
        let snapshot = typeof snapshotArg === 'string' ? snapshotArg : undefined;
        if (!snapshot) {
          const pick = await vscode.window.showQuickPick(
            list.map((x) => ({ label: x.id, description: x.time })),
            { title: 'Holdfast: files of which snapshot?' },
          );
          if (!pick) return 'cancelled';
          snapshot = pick.label;
        }
        const files = (await snapshotFiles(run.agent, snapshot)).entries.filter((e) => e.type === 'file');
        const file = await vscode.window.showQuickPick(
          files.map((f) => ({ label: f.path, description: `${formatBytes(f.size)} · ${f.mtime}` })),
          { title: `Holdfast: versions of which file of ${snapshot}?`, matchOnDescription: true },
        );
        if (!file) return 'cancelled';
        const versions = await fileVersions(run.agent, file.label);
        s.agent.versions = { snapshots: list, versions };
        s.agentChanged.fire();
        return `${versions.versions.length} version${versions.versions.length === 1 ? '' : 's'} of ${versions.path}`;
      }),
    ),

    vscode.commands.registerCommand('holdfast.restoreFileVersion', (pathArg?: unknown, versionArg?: unknown) =>
      runAgentAction(s, 'versions', 'Restore version', async (run) => {
        const shown = s.agent.versions?.versions;
        const path = typeof pathArg === 'string' ? pathArg : shown?.path;
        if (!path) throw new Error('pick a file first (Holdfast: Show File Versions)');
        let version = typeof versionArg === 'number' ? versionArg : undefined;
        if (version === undefined) {
          const versions = shown?.path === path ? shown : await fileVersions(run.agent, path);
          const pick = await vscode.window.showQuickPick(
            versions.versions.map((v) => ({ label: String(v.version), description: `${v.mtime} · ${formatBytes(v.size)}` })),
            { title: `Holdfast: restore which version of ${path}?` },
          );
          if (!pick) return 'cancelled';
          version = Number(pick.label);
        }
        run.progress.report({ message: `restoring version ${version} of ${path}` });
        const target = join(s.agentDir(run.entry.fleet.fleet), `version-${Date.now()}`);
        const file = await restoreFileVersion(run.agent, path, version, target);
        s.log(`  restored into ${file}`);
        return `restored version ${version} of ${path} to ${file}`;
      }),
    ),
  ];
}
