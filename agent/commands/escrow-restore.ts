import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { loadAgentConfig } from '../config.js';
import { openRemoteStore } from '../remote-store.js';
import { runEscrowRestore } from '../engine/agent-api.js';
import { restoreProgressPrinter } from '../engine/cli-output.js';
import { formatBytes } from '../../common/format.js';
import { LocalStore } from '../engine/local-store.js';
import type { ChunkStore } from '../store.js';
import type { OwnerChoice } from '../engine/restore.js';
import { ownerOption } from './restore.js';
import { passphraseFromEnv } from './passphrase.js';
import { addAdminOptions, adminStoreFrom, type AdminOptions } from './admin-options.js';

export function escrowRestoreCommand(): Command {
  return addAdminOptions(new Command('escrow-restore'), "read the device's data from the servers")
    .description("admin: restore a device's data without its device key, using the company private key its key was escrowed for")
    .requiredOption('--company-key <file>', 'company private key (PEM) matching the escrowPublicKey of the fleet')
    .requiredOption('--to <dir>', 'restore into this folder')
    .option('--passphrase-env <name>', 'environment variable holding the private key passphrase (never pass it on the command line)')
    .option('--config <file>', "the device's agent config; its state folder must hold the device's registration")
    .option('--store <dir>', "a local copy of the device's store instead of the backup servers")
    .option('--snapshot <id>', 'snapshot id (or unique prefix), or "latest"', 'latest')
    .option('--path <subpath>', 'only this file or folder')
    .addOption(ownerOption())
    .option('--quiet', 'no progress output')
    .action(
      async (
        o: AdminOptions & {
          companyKey: string;
          to: string;
          passphraseEnv?: string;
          config?: string;
          store?: string;
          snapshot: string;
          path?: string;
          owner?: OwnerChoice;
          quiet?: boolean;
        },
      ) => {
        const passphrase = passphraseFromEnv(o.passphraseEnv);
        const log = o.quiet ? undefined : (l: string) => process.stderr.write(`${l}\n`);
        if ([o.admin, o.store, o.config].filter(Boolean).length > 1) throw new Error('say where the data is with one of --admin, --store or --config');
        if (o.store && existsSync(join(o.store, 'index.log')))
          throw new Error(`${o.store} is a backup server's device folder, not a store copy: use --admin <credential file> --device <id> against the server`);
        const store: ChunkStore =
          (await adminStoreFrom(o, log)) ?? (o.store ? LocalStore.open(o.store) : await openRemoteStore(await loadAgentConfig(o.config), { log }));
        try {
          const r = await runEscrowRestore({
            store,
            companyKeyFile: o.companyKey,
            passphrase,
            snapshot: o.snapshot,
            subpath: o.path,
            target: o.to,
            owner: o.owner,
            onProgress: restoreProgressPrinter(o.quiet),
          });
          process.stdout.write(`Escrow restore complete: snapshot ${r.snapshotId}, ${r.files} files, ${formatBytes(r.bytes)} into ${o.to}\n`);
        } finally {
          await store.close();
        }
      },
    );
}
