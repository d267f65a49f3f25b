import { Command, Option } from 'commander';
import { loadAgentConfig } from '../config.js';
import { openLocalStore, runRestore } from '../engine/agent-api.js';
import { restoreProgressPrinter } from '../engine/cli-output.js';
import { OWNER_CHOICES, type OwnerChoice } from '../engine/restore.js';
import { formatBytes } from '../../common/format.js';
import { xattrSkipLines } from '../engine/cli-output.js';

/** --owner, for every restore command. */
export function ownerOption(): Option {
  return new Option(
    '--owner <who>',
    'who the restored files belong to: "original" (owner and group at backup) or "me" (default: original as root, else me)',
  ).choices(OWNER_CHOICES);
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('restore ("Heal") a snapshot or part of it, byte-identical with modes and times; every chunk is authenticated')
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, platform default)')
    .option('--snapshot <id>', 'snapshot id (or unique prefix), or "latest"', 'latest')
    .option('--path <subpath>', 'only this file or folder: "<folder name>/..." as in the snapshot, or its original absolute path')
    .option('--to <dir>', 'restore into this folder, as <dir>/<backed-up folder name>/...')
    .option('--original', 'restore to the original place, replacing the files there')
    .option('--store <dir>', 'use a local store folder instead of the backup servers')
    .addOption(ownerOption())
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress output')
    .action(
      async (o: {
        config?: string;
        snapshot: string;
        path?: string;
        to?: string;
        original?: boolean;
        store?: string;
        owner?: OwnerChoice;
        json?: boolean;
        quiet?: boolean;
      }) => {
        if (!o.to && !o.original) throw new Error('say where to restore: --to <dir>, or --original to heal the files in place');
        if (o.to && o.original) throw new Error('--to and --original exclude each other');
        const loaded = await loadAgentConfig(o.config);
        const result = await runRestore(loaded, {
          snapshot: o.snapshot,
          subpath: o.path,
          target: o.to,
          owner: o.owner,
          store: o.store ? openLocalStore(o.store) : undefined,
          log: o.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
          onProgress: restoreProgressPrinter(o.quiet || o.json),
        });
        if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else {
          for (const line of xattrSkipLines(result.xattrsSkipped)) process.stderr.write(`${line}\n`);
          process.stdout.write(
            `Restore complete: snapshot ${result.snapshotId}, ${result.files} files, ${result.dirs} folders, ` +
              `${result.symlinks} symlinks, ${formatBytes(result.bytes)} in ${(result.durationMs / 1000).toFixed(1)} s (all chunks verified)\n`,
          );
        }
      },
    );
}
