// holdfast-deploy push intune|jamf <fleet>: find what the service holds for the fleet, print the plan (create /
// update / unchanged per object), then apply it; --dry-run prints the plan and the changes without sending them.
import { Command, Option } from 'commander';

import { ALLOW_AT_INSTALL_FLAG, PUSH_ENV, type PushFleetResult, formatOutcome, pushIntuneFleet, pushJamfFleet } from '../push/index.js';
import { DEFAULT_OUT_DIR } from '../generate.js';

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** `push <name> <fleet>` with the options every destination shares first. */
function destination(push: Command, name: string, description: string, fleetHelp: string): Command {
  return push
    .command(name)
    .description(description)
    .argument('<fleet>', fleetHelp)
    .option('--out <dir>', 'where generate wrote its output', DEFAULT_OUT_DIR)
    .option('--dry-run', DRY_RUN_HELP, false);
}
const DRY_RUN_HELP = 'read what the service holds and print the plan and every change it would send (secrets masked); change nothing';

function summary({ plan, outcome }: PushFleetResult): void {
  for (const line of formatOutcome(plan, outcome)) log(line);
}

export function pushCommand(): Command {
  const push = new Command('push').description(
    'bring Microsoft Intune (Graph) or Jamf Pro up to date with what generate made: plan first (create / update / unchanged), then apply',
  );

  destination(
    push,
    'intune',
    'Create or update in place the Win32 app (.intunewin), the macOS pkg app and the macOS profiles in Intune through Microsoft Graph; ' +
      'a new version becomes a new content version of the same app, assignments are kept',
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
    .option(
      ALLOW_AT_INSTALL_FLAG,
      'push a Win32 app whose install line still carries a placeholder (generate --technician-id-at-install); fill it in in Intune',
      false,
    )
    .addHelpText(
      'after',
      `\nThe client secret is read from ${PUSH_ENV.graphClientSecret} only (never a flag, never printed).\nThe app registration needs the application ` +
        `permissions DeviceManagementApps.ReadWrite.All (apps) and\nDeviceManagementConfiguration.ReadWrite.All (macOS profiles), with admin consent.\n` +
        'Objects are found by the marker "[holdfast fleet=<id> ...]" in the app notes / profile description.',
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
          allowInstallTimePlaceholders: boolean;
        },
      ) => {
        summary(
          await pushIntuneFleet(fleet, {
            outDir: o.out,
            ...(o.tenant && { tenantId: o.tenant }),
            ...(o.clientId && { clientId: o.clientId }),
            ...(o.group && { groupId: o.group }),
            graphUrl: o.graphUrl,
            authorityUrl: o.authorityUrl,
            platform: o.platform,
            dryRun: o.dryRun,
            allowInstallTimePlaceholders: o.allowInstallTimePlaceholders,
            log,
          }),
        );
      },
    );

  destination(
    push,
    'jamf',
    'Create or update in place the package (re-uploaded when the pkg changed), the configuration profiles, the install policy, the uninstall ' +
      'script and policy, and the extension attributes in Jamf Pro, found by name',
    'fleet file (its dist/<fleet> output must hold the pkg: generate --target pkg,jamf-profiles)',
  )
    .addOption(new Option('--url <url>', 'Jamf Pro URL, e.g. https://acme.jamfcloud.com').env(PUSH_ENV.jamfUrl))
    .addOption(new Option('--client-id <id>', 'Jamf Pro API client id').env(PUSH_ENV.jamfClientId))
    .addOption(new Option('--group <id>', 'numeric id of the computer group the install policy and profiles are scoped to').env(PUSH_ENV.jamfGroup))
    .addOption(
      new Option('--uninstall-group <id>', 'numeric id of the computer group the uninstall policy is scoped to (the install policy excludes it)').env(
        PUSH_ENV.jamfUninstallGroup,
      ),
    )
    .addHelpText('after', `\nThe API client secret is read from ${PUSH_ENV.jamfClientSecret} only (never a flag, never printed).`)
    .action(async (fleet: string, o: { out: string; url?: string; clientId?: string; group?: string; uninstallGroup?: string; dryRun: boolean }) => {
      summary(
        await pushJamfFleet(fleet, {
          outDir: o.out,
          ...(o.url && { url: o.url }),
          ...(o.clientId && { clientId: o.clientId }),
          ...(o.group && { groupId: o.group }),
          ...(o.uninstallGroup && { uninstallGroupId: o.uninstallGroup }),
          dryRun: o.dryRun,
          log,
        }),
      );
    });
  return push;
}
