import { Command } from 'commander';
import { formatStatus, readStatus } from '../status.js';

export function statusCommand(): Command {
  return new Command('status')
    .description('show registration, assigned servers and the last backup result')
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, or the platform default)')
    .option('--json', 'print JSON (version, fleet, registered, deviceId, servers, lastSuccessfulBackup, lastBackup, lastError, ...)')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const s = await readStatus({ configPath: opts.config });
      process.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatus(s)}\n`);
    });
}
