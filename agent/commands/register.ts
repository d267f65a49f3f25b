import { Command } from 'commander';
import { registerDevice } from '../register.js';

export function registerCommand(): Command {
  return new Command('register')
    .description('register this machine with its Technician ID at the registration servers (primary, then alternate)')
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, or the platform default)')
    .option('--technician-id <id>', "Technician ID (default: the config's technicianId or HOLDFAST_TECHNICIAN_ID)")
    .option('--force', 'register again even if already registered (same machine identity -> same device)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config?: string; technicianId?: string; force?: boolean; json?: boolean }) => {
      const r = await registerDevice({
        configPath: opts.config,
        technicianId: opts.technicianId,
        force: opts.force,
        onProgress: opts.json ? undefined : (l) => process.stderr.write(`${l}\n`),
      });
      if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else if (r.alreadyRegistered)
        process.stdout.write(
          `already registered as device ${r.deviceId} (primary ${r.servers.primary}, alternate ${r.servers.alternate}); use --force to register again\n`,
        );
      else
        process.stdout.write(
          `registered as ${r.existingDevice ? 'existing' : 'new'} device ${r.deviceId} via ${r.registeredVia}; backup servers: primary ` +
            `${r.servers.primary}, alternate ${r.servers.alternate}\n`,
        );
    });
}
