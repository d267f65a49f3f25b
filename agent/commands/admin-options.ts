import type { Command } from 'commander';
import { openAdminStore } from '../admin-store.js';
import type { RemoteStore } from '../remote-store.js';

export interface AdminOptions {
  admin?: string;
  device?: string;
  server?: string[];
  tlsPin?: string;
}

/** --admin, --device, --server, --tls-pin: an admin reading one device's data with an admin credential. */
export function addAdminOptions(command: Command, what: string): Command {
  return command
    .option('--admin <file>', `admin credential file (holdfast-server admin-credential): ${what}, nothing from the device needed`)
    .option('--device <id>', 'with --admin: the device (holdfast-server devices lists them)')
    .option(
      '--server <ip:port>',
      'with --admin: server to connect to (repeatable; default: the ones in the credential file)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--tls-pin <pin>', "with --admin: the server certificate's pin (default: the one in the credential file)");
}

/** The admin's store for --admin/--device, or undefined without --admin. */
export async function adminStoreFrom(o: AdminOptions, log?: (line: string) => void): Promise<RemoteStore | undefined> {
  if (!o.admin) return undefined;
  if (!o.device) throw new Error('--admin needs --device <id> (holdfast-server devices lists them)');
  return openAdminStore({ credentialFile: o.admin, deviceId: o.device, servers: o.server, tlsPin: o.tlsPin, log });
}
