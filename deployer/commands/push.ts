// holdfast-deploy push intune|jamf <fleet>: upload what generate made to Intune (Graph) or Jamf Pro.
import { Command, Option } from 'commander';

import { PUSH_ENV, pushIntuneFleet, pushJamfFleet } from '../push/index.js';
import { DEFAULT_OUT_DIR } from '../generate.js';

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const retries = (n: number): string => `${n} retr${n === 1 ? 'y' : 'ies'}`;

/** `push <name> <fleet>` with the options every destination shares first. */
function destination(push: Command, name: string, description: string, fleetHelp: string): Command {
  return push.command(name).description(description).argument('<fleet>', fleetHelp).option('--out <dir>', 'where generate wrote its output', DEFAULT_OUT_DIR);
}
const DRY_RUN_HELP = 'print every request (secrets masked) and send nothing';

export function pushCommand(): Command {
  const push = new Command('push').description('upload what generate made to Microsoft Intune (Graph) or Jamf Pro; --dry-run shows every request first');

  destination(
    push,
    'intune',
    'Create the apps in Intune through Microsoft Graph (Win32 app from the .intunewin, macOS pkg app, macOS profiles), upload, commit and assign them ' +
      'to a group',
    'fleet file (its dist/<fleet>/intune output must exist: generate --target intune and/or intune-macos)',
  )
    .addOption(new Option('--tenant <id>', 'Entra ID tenant id').env(PUSH_ENV.graphTenant))
    .addOption(new Option('--client-id <id>', 'app registration (client) id; needs DeviceManagementApps.ReadWrite.All').env(PUSH_ENV.graphClientId))
    .addOption(new Option('--group <id>', 'Entra group id to assign the app to (required install); omit to skip the assignment').env(PUSH_ENV.graphGroup))
    .addOption(new Option('--graph-url <url>', 'Graph API root').default('https://graph.microsoft.com/beta').env(PUSH_ENV.graphUrl))
    .addOption(new Option('--authority-url <url>', 'Entra ID login root').default('https://login.microsoftonline.com').env(PUSH_ENV.graphAuthority))
    .addOption(
      new Option('--platform <which>', 'windows (Win32 app), macos (pkg app and profiles) or all that generate made')
        .choices(['windows', 'macos', 'all'])
        .default('all'),
    )
    .option('--dry-run', DRY_RUN_HELP, false)
    .addHelpText(
      'after',
      `\nThe client secret is read from ${PUSH_ENV.graphClientSecret} only (never a flag, never printed).\nThe app registration needs the application ` +
        `permissions DeviceManagementApps.ReadWrite.All (apps) and\nDeviceManagementConfiguration.ReadWrite.All (macOS profiles), with admin consent.`,
    )
    .action(
      async (
        fleet: string,
        o: {
          out: string;
          tenant?: string;
          clientId?: string;
          group?: string;
          graphUrl: string;
          authorityUrl: string;
          platform: 'windows' | 'macos' | 'all';
          dryRun: boolean;
        },
      ) => {
        const r = await pushIntuneFleet(fleet, {
          outDir: o.out,
          ...(o.tenant && { tenantId: o.tenant }),
          ...(o.clientId && { clientId: o.clientId }),
          ...(o.group && { groupId: o.group }),
          graphUrl: o.graphUrl,
          authorityUrl: o.authorityUrl,
          platform: o.platform,
          dryRun: o.dryRun,
          log,
        });
        if (o.dryRun) return log('dry run: nothing was sent');
        const assigned = (a: boolean) => (a ? 'assigned' : 'not assigned (no --group)');
        for (const [name, app] of [
          ['windows', r.windows],
          ['macos', r.macos],
        ] as const) {
          if (app)
            log(`intune ${name}: app ${app.appId} committed (content version ${app.contentVersionId}, ${app.blocks} block(s)), ${assigned(app.assigned)}`);
        }
        for (const p of r.profiles) log(`intune macos: profile ${p.id} from ${p.file}, ${assigned(p.assigned)}`);
        log(retries(r.retries));
      },
    );

  destination(
    push,
    'jamf',
    'Upload the pkg, the configuration profiles and the extension attributes to Jamf Pro and create a policy scoped to a group',
    'fleet file (its dist/<fleet> output must hold the pkg: generate --target pkg,jamf-profiles)',
  )
    .addOption(new Option('--url <url>', 'Jamf Pro URL, e.g. https://acme.jamfcloud.com').env(PUSH_ENV.jamfUrl))
    .addOption(new Option('--client-id <id>', 'Jamf Pro API client id').env(PUSH_ENV.jamfClientId))
    .addOption(new Option('--group <id>', 'numeric id of the computer group the policy and profiles are scoped to').env(PUSH_ENV.jamfGroup))
    .option('--dry-run', DRY_RUN_HELP, false)
    .addHelpText('after', `\nThe API client secret is read from ${PUSH_ENV.jamfClientSecret} only (never a flag, never printed).`)
    .action(async (fleet: string, o: { out: string; url?: string; clientId?: string; group?: string; dryRun: boolean }) => {
      const r = await pushJamfFleet(fleet, {
        outDir: o.out,
        ...(o.url && { url: o.url }),
        ...(o.clientId && { clientId: o.clientId }),
        ...(o.group && { groupId: o.group }),
        dryRun: o.dryRun,
        log,
      });
      log(
        o.dryRun
          ? 'dry run: nothing was sent'
          : `jamf: package ${r.packageId}, ${r.profileIds.length} profile(s), policy ${r.policyId}, ${r.extensionAttributeIds.length} extension ` +
              `attribute(s), ${retries(r.retries)}`,
      );
    });
  return push;
}
