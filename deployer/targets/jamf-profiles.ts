// Jamf / macOS MDM target: managed-preferences and PPPC (Full Disk Access) profiles, extension-attribute scripts.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extensionAttributeScripts, pppcProfile, pppcProfileName, settingsProfile, settingsProfileName } from '../../installers/mac/index.js';
import { agentConfigFromFleet } from '../../fleet/agent-config.js';
import { nodeRuntime, runtimesSupport } from '../../installers/runtimes.js';
import type { Artifact, BuildContext, Target } from './target.js';

export const jamfProfilesTarget: Target = {
  name: 'jamf-profiles',
  description: 'macOS configuration profiles (managed settings, PPPC Full Disk Access) and Jamf extension-attribute scripts',
  // The PPPC profile's code requirement is read from the Node runtimes the pkg ships (from the user's cache, as
  // buildMacPkg takes them, whatever cache the run uses).
  isSupported: () => runtimesSupport(['darwin-x64', 'darwin-arm64']),
  async make(ctx: BuildContext): Promise<Artifact[]> {
    const { fleet } = ctx.loaded;
    await mkdir(ctx.outDir, { recursive: true });
    const settings = join(ctx.outDir, settingsProfileName(fleet.fleet));
    // The profile's values are those of the agent.json the pkg installs; secrets are dropped by the settings table.
    await writeFile(settings, settingsProfile(fleet, await agentConfigFromFleet(ctx.loaded, ctx.secrets)));
    const pppc = await pppcProfile(fleet, { x86_64: await nodeRuntime('darwin-x64'), arm64: await nodeRuntime('darwin-arm64') });
    for (const w of pppc.warnings) ctx.progress(`warning: ${w}`);
    const pppcFile = join(ctx.outDir, pppcProfileName(fleet.fleet));
    await writeFile(pppcFile, pppc.xml);
    const profileCommands = (file: string) => [
      { channel: 'jamf' as const, command: `Jamf Pro: Computers > Configuration Profiles > Upload ${file}` },
      { channel: 'installer' as const, command: `sudo profiles install -path ${file} (manual test only; PPPC payloads install only through MDM)` },
    ];
    const artifacts: Artifact[] = [
      {
        path: settings,
        target: 'jamf-profiles',
        description: `Configuration profile: managed preferences for ${fleet.branding.bundleId} (servers, proxy, schedule, exclusions; secrets omitted)`,
        installCommands: profileCommands(settingsProfileName(fleet.fleet)),
      },
      {
        path: pppcFile,
        target: 'jamf-profiles',
        description:
          `Configuration profile: PPPC Full Disk Access for the bundled Node runtimes; CodeRequirement ` +
          `${pppc.codeRequirement}${pppc.warnings.length ? ' (WARNING: runtimes not Developer ID signed; FDA needs a signed binary)' : ''}`,
        installCommands: profileCommands(pppcProfileName(fleet.fleet)).slice(0, 1),
      },
    ];
    for (const ea of await extensionAttributeScripts()) {
      const file = join(ctx.outDir, ea.file);
      await writeFile(file, ea.contents);
      await chmod(file, 0o755);
      artifacts.push({
        path: file,
        target: 'jamf-profiles',
        description: `Jamf extension attribute "${ea.name}" (String, Script): ${ea.description}`,
        installCommands: [
          { channel: 'jamf', command: `Jamf Pro: Settings > Computer extension attributes > New "${ea.name}", input type Script, paste ${ea.file}` },
        ],
      });
    }
    return artifacts;
  },
};
