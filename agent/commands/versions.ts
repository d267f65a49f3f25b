import { Command } from 'commander';
import { formatBytes } from '../../common/format.js';
import { loadAgentConfig } from '../config.js';
import { openLocalStore, runRestore } from '../engine/agent-api.js';
import { restoreProgressPrinter } from '../engine/cli-output.js';
import { showName } from '../engine/names.js';
import type { OwnerChoice } from '../engine/restore.js';
import { runFileVersions } from '../engine/versions-api.js';
import { ownerOption } from './restore.js';

function versionNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--restore ${JSON.stringify(v)} is not allowed: a version number from the list (1 = newest)`);
  return n;
}

export function versionsCommand(): Command {
  return new Command('versions')
    .description('list every stored version of one file (time and size, newest first); --restore N --to DIR restores one of them')
    .argument('<file>', 'the file: "<folder name>/..." as in the snapshots, or its original absolute path')
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, platform default)')
    .option('--store <dir>', 'use a local store folder instead of the backup servers')
    .option('--restore <n>', 'restore version n (1 = newest) into --to', versionNumber)
    .option('--to <dir>', 'with --restore: restore into this folder, as <dir>/<backed-up folder name>/...')
    .addOption(ownerOption())
    .option('--json', 'print JSON')
    .action(async (file: string, o: { config?: string; store?: string; restore?: number; to?: string; owner?: OwnerChoice; json?: boolean }) => {
      if (o.restore !== undefined && !o.to) throw new Error('--restore needs --to <dir> (a version is restored beside the current file, never over it)');
      const loaded = await loadAgentConfig(o.config);
      const store = o.store ? openLocalStore(o.store) : undefined;
      const r = await runFileVersions(loaded, file, { store });
      if (o.restore === undefined) {
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else {
          process.stdout.write(`${showName(r.path)}: ${r.versions.length} version(s)\n`);
          for (const v of r.versions)
            process.stdout.write(
              `  ${String(v.version).padStart(3)}  ${v.mtime}  ${formatBytes(v.size).padStart(10)} (${v.size} bytes)  snapshot ${v.snapshot}` +
                `${v.snapshots.length > 1 ? ` (in ${v.snapshots.length} snapshots)` : ''}\n`,
            );
        }
        return;
      }
      const v = r.versions.find((x) => x.version === o.restore);
      if (!v) throw new Error(`--restore ${o.restore}: ${showName(r.path)} has ${r.versions.length} version(s)`);
      const result = await runRestore(loaded, {
        snapshot: v.snapshot,
        subpath: r.path,
        target: o.to,
        owner: o.owner,
        store,
        onProgress: restoreProgressPrinter(true),
      });
      if (o.json) process.stdout.write(`${JSON.stringify({ path: r.path, version: v, restore: result }, null, 2)}\n`);
      else
        process.stdout.write(
          `Restored version ${v.version} of ${showName(r.path)} (${v.mtime}, ${formatBytes(v.size)}) from snapshot ${v.snapshot} into ${o.to}\n`,
        );
    });
}
