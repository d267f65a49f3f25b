import { Command } from 'commander';
import { formatBytes } from '../../common/format.js';
import { loadAgentConfig } from '../config.js';
import { openLocalStore } from '../engine/agent-api.js';
import { showName } from '../engine/names.js';
import { runListFiles } from '../engine/versions-api.js';

export function lsCommand(): Command {
  return new Command('ls')
    .description('list the files of a snapshot: its backed-up folders, or what one folder held (see "snapshots" for ids)')
    .argument('<snapshot>', 'snapshot id (or unique prefix), or "latest"')
    .argument('[path]', 'a folder or file: "<folder name>/..." as in the snapshot, or its original absolute path')
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, platform default)')
    .option('--store <dir>', 'use a local store folder instead of the backup servers')
    .option('-r, --recursive', 'everything below the folder, not only what is directly in it')
    .option('--json', 'print JSON')
    .action(async (snapshot: string, path: string | undefined, o: { config?: string; store?: string; recursive?: boolean; json?: boolean }) => {
      const loaded = await loadAgentConfig(o.config);
      const r = await runListFiles(loaded, snapshot, { path, recursive: o.recursive, store: o.store ? openLocalStore(o.store) : undefined });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      process.stdout.write(`snapshot ${r.snapshot.id} (${r.snapshot.time}), ${r.path === '' ? 'backed-up folders' : showName(r.path)}:\n`);
      for (const e of r.entries) {
        const size = e.type === 'file' ? formatBytes(e.size) : e.type;
        const link = e.target !== undefined ? ` -> ${showName(e.target)}` : '';
        process.stdout.write(`  ${size.padStart(10)}  ${e.mtime}  ${showName(e.path)}${e.type === 'folder' ? '/' : ''}${link}\n`);
      }
    });
}
