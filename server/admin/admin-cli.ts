// holdfast-server's admin commands for lost and replaced machines: admin-credential and replace-token.
// Both write their secret into a file of mode 0600 and never print it.
import { type Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseEndpoint } from '../../common/endpoint.js';
import { loadServerConfig } from '../config.js';
import { certificatePin } from '../tls.js';
import { createAdminCredential } from './admin-credentials.js';
import { DEFAULT_REPLACE_TOKEN_HOURS, issueReplaceToken } from './replace-device.js';

function collect(value: string, prev: string[] = []): string[] {
  if (!parseEndpoint(value))
    throw new Error(`--server ${JSON.stringify(value)} is not allowed: expected IPv4:port or [IPv6]:port (agents connect by IP, no DNS)`);
  return [...prev, value];
}

function hours(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 720) throw new Error(`--valid-hours ${JSON.stringify(value)} is not allowed: a whole number of hours from 1 to 720`);
  return n;
}

/** Where an admin connects: --server, else the config's listen addresses with a fixed port; the pin of the server's certificate. */
async function whereToConnect(
  dataDir: string,
  configFile: string | undefined,
  servers: string[] | undefined,
): Promise<{ servers?: string[]; tlsPin?: string }> {
  const config = configFile ? await loadServerConfig(configFile) : undefined;
  const certFile = config?.tls?.cert ?? join(dataDir, 'tls', 'server.crt');
  const tlsPin = await readFile(certFile, 'utf8').then(certificatePin, () => undefined);
  const listed = servers ?? config?.listen.filter((l) => parseEndpoint(l) !== undefined);
  return { servers: listed, tlsPin };
}

export function addAdminCommands(program: Command): void {
  program
    .command('admin-credential')
    .description("make (or replace) an admin credential: it opens any one device's data read-only, for escrow-restore of a lost machine")
    .requiredOption('--data <dir>', 'data folder of the server')
    .requiredOption('--out <file>', 'write the credential file here (mode 0600); hand it to the admin, never print it')
    .addOption(new Option('--name <admin>', 'admin name (a new credential for a name replaces its old one)').default('admin'))
    .option('--config <file>', "server config: the file then carries the server's addresses and certificate pin")
    .addOption(new Option('--server <ip:port>', "an address admins connect to (repeatable; default: the config's listen addresses)").argParser(collect))
    .action(async (o: { data: string; out: string; name: string; config?: string; server?: string[] }) => {
      const dataDir = resolve(o.data);
      const where = await whereToConnect(dataDir, o.config, o.server);
      const file = await createAdminCredential(dataDir, o.name, resolve(o.out), where);
      process.stdout.write(
        `holdfast-server: admin credential for "${file.admin}" written to ${resolve(o.out)} (mode 0600; the credential is not shown)` +
          `${file.servers ? `; servers ${file.servers.join(' ')}` : '; no server address in it: pass --server to escrow-restore'}` +
          `${file.tlsPin ? '' : '; no certificate pin in it: pass --tls-pin to escrow-restore'}\n`,
      );
    });

  program
    .command('replace-token')
    .description('approve a replacement machine for a device: a one-time token for "holdfast-agent register --replace <device>"')
    .requiredOption('--data <dir>', 'data folder of the server')
    .requiredOption('--device <id>', 'the device the new machine takes over (see `holdfast-server devices`)')
    .requiredOption('--out <file>', 'write the token file here (mode 0600); hand it to the new machine, never print it')
    .addOption(new Option('--valid-hours <n>', 'hours until the token expires').argParser(hours).default(DEFAULT_REPLACE_TOKEN_HOURS))
    .action(async (o: { data: string; device: string; out: string; validHours: number }) => {
      const { DeviceRegistry } = await import('../storage/registry.js');
      const registry = new DeviceRegistry(resolve(o.data), [], () => ({ primary: '', alternate: '' }));
      const t = await issueReplaceToken(registry, o.device, o.validHours * 3_600_000, resolve(o.out));
      process.stdout.write(
        `holdfast-server: replace token for ${t.deviceId} written to ${resolve(o.out)} (mode 0600; valid once, until ${t.expiresAt}; the token is not shown)\n`,
      );
    });
}
