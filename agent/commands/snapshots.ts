import { Command } from 'commander';
import { loadAgentConfig } from '../config.js';
import { openLocalStore, runListSnapshots } from '../engine/agent-api.js';
import { listSnapshots } from '../engine/snapshot.js';
import { addAdminOptions, adminStoreFrom, type AdminOptions } from './admin-options.js';

export function snapshotsCommand(): Command {
  return addAdminOptions(new Command('snapshots'), "list a device's snapshots as an admin")
    .description("list this device's snapshots, newest first")
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, platform default)')
    .option('--store <dir>', 'use a local store folder instead of the backup servers')
    .option('--json', 'print JSON')
    .action(async (o: AdminOptions & { config?: string; store?: string; json?: boolean }) => {
      const admin = await adminStoreFrom(o);
      const list = admin
        ? await listSnapshots(admin).finally(() => admin.close())
        : await runListSnapshots(await loadAgentConfig(o.config), { store: o.store ? openLocalStore(o.store) : undefined });
      if (o.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) process.stdout.write('No snapshots yet: run "holdfast-agent backup".\n');
      else for (const s of list) process.stdout.write(`${s.id}  ${s.time}\n`);
    });
}
