import { Command } from 'commander';
import { registerDevice } from '../register.js';
import { replaceDevice } from '../replace.js';
import { passphraseFromEnv } from './passphrase.js';

export function registerCommand(): Command {
  return new Command('register')
    .description('register this machine with its Technician ID at the registration servers (primary, then alternate)')
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, or the platform default)')
    .option('--technician-id <id>', "Technician ID (default: the config's technicianId or HOLDFAST_TECHNICIAN_ID)")
    .option('--force', 'register again even if already registered (same machine identity -> same device)')
    .option('--replace <device>', "take over a lost device's backup history (needs --replace-token and --company-key)")
    .option('--replace-token <file>', 'with --replace: the token file the admin made (holdfast-server replace-token)')
    .option('--company-key <file>', "with --replace: company private key (PEM) the device's key was escrowed for")
    .option('--passphrase-env <name>', 'with --replace: environment variable holding the private key passphrase')
    .option('--json', 'print the result as JSON')
    .action(async (opts: Options) => {
      const onProgress = opts.json ? undefined : (l: string) => process.stderr.write(`${l}\n`);
      const r = opts.replace
        ? await replaceFrom(opts, onProgress)
        : await registerDevice({ configPath: opts.config, technicianId: opts.technicianId, force: opts.force, onProgress });
      if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else if (r.alreadyRegistered)
        process.stdout.write(
          `already registered as device ${r.deviceId} (primary ${r.servers.primary}, alternate ${r.servers.alternate}); use --force to register again\n`,
        );
      else if ('replaced' in r)
        process.stdout.write(
          `took over device ${r.deviceId} via ${r.registeredVia} (its device key recovered from escrow); the next backup sends only what the ` +
            `device did not store yet\n`,
        );
      else
        process.stdout.write(
          `registered as ${r.existingDevice ? 'existing' : 'new'} device ${r.deviceId} via ${r.registeredVia}; backup servers: primary ` +
            `${r.servers.primary}, alternate ${r.servers.alternate}\n`,
        );
    });
}

interface Options {
  config?: string;
  technicianId?: string;
  force?: boolean;
  json?: boolean;
  replace?: string;
  replaceToken?: string;
  companyKey?: string;
  passphraseEnv?: string;
}

function replaceFrom(o: Options, onProgress?: (line: string) => void) {
  if (!o.replaceToken) throw new Error('--replace needs --replace-token <file> (the admin makes it with holdfast-server replace-token)');
  if (!o.companyKey) throw new Error("--replace needs --company-key <file>: the device's data is encrypted with its escrowed key");
  return replaceDevice({
    configPath: o.config,
    technicianId: o.technicianId,
    deviceId: o.replace!,
    tokenFile: o.replaceToken,
    companyKeyFile: o.companyKey,
    passphrase: passphraseFromEnv(o.passphraseEnv),
    onProgress,
  });
}
