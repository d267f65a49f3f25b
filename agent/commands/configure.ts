// holdfast-agent configure: write agent.json from fleet defaults and installer settings (the MSI's custom action),
// or remove it at uninstall. Never prints a secret value.
import { Command } from 'commander';
import {
  appendConfigureLog,
  configureAgent,
  describeSources,
  parseSetting,
  parseSettingLines,
  unconfigureAgent,
  CONFIGURABLE_SETTINGS,
  type ConfigurableSetting,
} from '../configure.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function configureCommand(): Command {
  return new Command('configure')
    .description('write agent.json from fleet defaults and installer settings, or remove it (--uninstall)')
    .requiredOption('--config <file>', 'agent.json to write')
    .option('--defaults <file>', 'fleet defaults (fleet-defaults.json laid down by the installer); default: the existing agent.json')
    .option(
      '--set <name=value>',
      `a setting given at install; empty values are ignored; one of ${CONFIGURABLE_SETTINGS.join(', ')}`,
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--settings-stdin', 'also read settings as name=value lines from standard input (secrets stay off the command line); --set wins')
    .option('--msi', 'run as the MSI custom action: also record the outcome in configure.log beside the config')
    .option('--msi-uninstall', 'remove agent.json, the service log and the state (the uninstall custom action)')
    .option('--uninstall', 'same as --msi-uninstall')
    .option('--owner <id>', 'the installation writing the config (MSI ProductCode); an uninstall with another owner leaves the config alone')
    .option('--keep-identity <0|1>', 'with --uninstall: keep the device identity so a reinstall is the same device', '1')
    .action(
      async (opts: {
        config: string;
        defaults?: string;
        set: string[];
        settingsStdin?: boolean;
        msi?: boolean;
        msiUninstall?: boolean;
        uninstall?: boolean;
        keepIdentity: string;
        owner?: string;
      }) => {
        const tag = opts.msi || opts.msiUninstall ? 'configure (msi)' : 'configure';
        if (opts.msiUninstall || opts.uninstall) {
          const keepIdentity = opts.keepIdentity !== '0';
          const { removed, kept, ownedBy } = await unconfigureAgent({ configPath: opts.config, keepIdentity, owner: opts.owner });
          if (ownedBy) {
            process.stdout.write(`${tag}: the config now belongs to ${ownedBy} (an upgrade): left in place\n`);
            return;
          }
          process.stdout.write(`${tag}: removed ${removed.length} item(s), kept ${kept.length} identity file(s)\n`);
          return;
        }
        try {
          const overrides: Partial<Record<ConfigurableSetting, string>> = opts.settingsStdin ? parseSettingLines(await readStdin()) : {};
          for (const s of opts.set) {
            const [k, v] = parseSetting(s);
            overrides[k] = v;
          }
          const result = await configureAgent({ configPath: opts.config, defaultsPath: opts.defaults, overrides, owner: opts.owner, restrictAccess: true });
          const summary = `${tag}: wrote ${result.path}\n${describeSources(result).replace(/^/gm, '  ')}`;
          process.stdout.write(`${summary}\n`);
          if (opts.msi) await appendConfigureLog(opts.config, summary);
        } catch (err) {
          // Errors name fields, never secret values; the MSI log cannot show a custom action's output, this file can.
          if (opts.msi) await appendConfigureLog(opts.config, `${tag}: install failed: ${(err as Error).message}`).catch(() => {});
          throw err;
        }
      },
    );
}
