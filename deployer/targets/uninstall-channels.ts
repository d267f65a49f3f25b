// The guide's "Uninstalling through your MDM" section: how Intune and Jamf Pro remove the agent, with the names
// the push gives the Jamf objects (jamfNames) and the uninstall lines the installer targets wrote.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

import { uninstallFileName } from '../../installers/mac/index.js';
import type { Fleet } from '../../fleet/types.js';
import { jamfNames } from '../push/jamf-objects.js';
import { commentText } from './firewall.js';
import { WIN32_APP_JSON } from './intune.js';
import type { Artifact } from './target.js';

export interface UninstallChannel {
  title: string;
  commands: string[];
  note: string;
}

export function uninstallChannels(fleet: Fleet, previous: Artifact[] = [], fleetFile = `${fleet.fleet}.fleet.json`): UninstallChannel[] {
  const names = jamfNames(fleet.branding.product, fleet.fleet);
  // The line Intune runs: the Win32 app's uninstallCommandLine (msiexec /x with the MSI's product code), when intune ran.
  const appJson = previous.find((a) => a.target === 'intune' && basename(a.path) === WIN32_APP_JSON)?.path;
  const intuneUninstall =
    appJson && existsSync(appJson) ? (JSON.parse(readFileSync(appJson, 'utf8')) as { uninstallCommandLine?: string }).uninstallCommandLine : undefined;
  const script = basename(previous.find((a) => a.target === 'pkg' && a.path.endsWith('-uninstall.sh'))?.path ?? uninstallFileName(fleet.fleet));
  const kept = fleet.identity.keepOnUninstall
    ? "The agent's config and identity stay, so a reinstall resumes the same backup account; " +
      'set the policy\'s script parameter 4 to "--purge" to delete them too.'
    : "This fleet deletes the agent's config and identity on uninstall.";
  return [
    {
      title: 'Windows, Microsoft Intune',
      commands: [commentText(intuneUninstall ?? 'msiexec /x "{product code}" /qn /norestart')],
      note:
        `In the Intune admin center open Apps > Windows > ${fleet.branding.product}, Properties > Assignments, and add the devices' group under ` +
        "Uninstall (keep it out of the Required group). Intune runs the Win32 app's uninstall command, msiexec /x with the MSI product code " +
        '(set by holdfast-deploy push intune), as System, and detection then reports the app as removed.',
    },
    {
      title: 'macOS, Jamf Pro',
      commands: [
        `holdfast-deploy push jamf ${fleetFile} --url https://<instance>.jamfcloud.com --client-id <api-client-id> --group <computer-group-id> ` +
          '--uninstall-group <computer-group-id>',
        `sudo jamf policy -event ${names.uninstallTrigger}`,
      ],
      note:
        `The push uploads ${script} as the script "${names.uninstallScript}" and creates the policy "${names.uninstallPolicy}" scoped to the ` +
        `uninstall group: Macs you add to that group remove the agent at their next check-in (or at once with the custom trigger, last line); ` +
        `the install policy excludes the group. ${kept}`,
    },
  ];
}
