// holdfast-server: the registration + backup test server, and its admin commands.
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { loadServerConfig, type ServerConfig } from './config.js';
import { parseEndpoint } from '../common/endpoint.js';
import { AGENT_VERSION } from '../agent/version.js';
import { escapeForTerminal } from '../common/terminal-text.js';
import { reportCommand } from './health/report-command.js';
import { addAdminCommands } from './admin/admin-cli.js';

function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}

function ipPort(field: string) {
  return (value: string): string => {
    if (!parseEndpoint(value))
      throw new Error(`${field} ${JSON.stringify(value)} is not allowed: expected IPv4:port or [IPv6]:port (agents connect by IP, no DNS)`);
    return value;
  };
}

const program = new Command('holdfast-server')
  .description('Holdfast test server: agent registration and backup storage over the Holdfast wire protocol (TLS, port 16384)')
  .version(AGENT_VERSION)
  .showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the server in the foreground until SIGTERM/SIGINT')
  .requiredOption('--data <dir>', 'data folder (device registry, encrypted chunks, snapshots)')
  .requiredOption('--config <file>', 'server config JSON (listen, tls, technicianIds, assign, limits); see examples/server.json')
  .addOption(new Option('--listen <ip:port>', "listen here instead of the config's addresses (repeatable; port 0 = any free port)").argParser(collect))
  .action(async (opts: { data: string; config: string; listen?: string[] }) => {
    const config: ServerConfig = await loadServerConfig(opts.config);
    if (opts.listen) {
      for (const l of opts.listen)
        if (!parseEndpoint(l, true)) throw new Error(`--listen ${JSON.stringify(l)} is not allowed: expected IPv4:port or [IPv6]:port`);
      config.listen = opts.listen;
    }
    const { startServer } = await import('./index.js');
    const server = await startServer({ dataDir: resolve(opts.data), config });
    const out = (s: string) => process.stdout.write(`holdfast-server: ${s}\n`);
    out(`data folder ${resolve(opts.data)}`);
    out(`certificate pin ${server.pin}${server.generatedCertificate ? ' (new certificate created in the data folder: put this pin in your fleet file)' : ''}`);
    out(`new devices get primary ${server.assign.primary}, alternate ${server.assign.alternate}`);
    out(`listening on ${server.addresses.join(' ')}`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      out(`${signal}: shutting down`);
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('reassign')
  .description('give a device a new backup-server pair; the agent learns it at its next session and keeps it')
  .requiredOption('--data <dir>', 'data folder of the server')
  .requiredOption('--device <id>', 'device id (see `holdfast-server devices`)')
  .requiredOption('--primary <ip:port>', 'new primary backup server', ipPort('--primary'))
  .requiredOption('--alternate <ip:port>', 'new alternate backup server', ipPort('--alternate'))
  .action(async (opts: { data: string; device: string; primary: string; alternate: string }) => {
    const { DeviceRegistry } = await import('./storage/registry.js');
    const registry = new DeviceRegistry(resolve(opts.data), [], () => ({ primary: opts.primary, alternate: opts.alternate }));
    const rec = await registry.reassign(opts.device, { primary: opts.primary, alternate: opts.alternate });
    process.stdout.write(`holdfast-server: ${rec.deviceId} now uses primary ${rec.servers.primary}, alternate ${rec.servers.alternate}\n`);
  });

program
  .command('devices')
  .description('list registered devices')
  .requiredOption('--data <dir>', 'data folder of the server')
  .option('--json', 'print JSON')
  .action(async (opts: { data: string; json?: boolean }) => {
    const { DeviceRegistry } = await import('./storage/registry.js');
    const registry = new DeviceRegistry(resolve(opts.data), [], () => ({ primary: '', alternate: '' }));
    await registry.init();
    const recs = [];
    for (const id of await registry.listDeviceIds()) {
      const r = await registry.read(id);
      if (r) recs.push({ deviceId: r.deviceId, hostname: r.hostname ?? null, platform: r.platform ?? null, servers: r.servers, registeredAt: r.registeredAt });
    }
    if (opts.json) process.stdout.write(`${JSON.stringify(recs, null, 2)}\n`);
    else if (recs.length === 0) process.stdout.write('no devices registered\n');
    else
      for (const r of recs) {
        // Host name and platform come from the device (and the rest from a file on disk): shown with control
        // characters escaped, so none reaches the terminal or starts a line of its own.
        const cols = [r.deviceId, r.hostname ?? '-', r.platform ?? '-', `${r.servers.primary} / ${r.servers.alternate}`, r.registeredAt];
        process.stdout.write(`${cols.map((c) => escapeForTerminal(String(c))).join('  ')}\n`);
      }
  });

program.addCommand(reportCommand());
addAdminCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`holdfast-server: ${(err as Error).message ?? String(err)}\n`);
  process.exitCode = 1;
});
