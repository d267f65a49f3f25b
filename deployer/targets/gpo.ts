// Group Policy hand-off: ADMX + en-US ADML for the agent's policy settings under
// HKLM\Software\Policies\<vendor>\<product> (read by agent/policy.ts), and a computer startup script
// with the silent msiexec line for rollouts without GPO Software Installation.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  inWords,
  PROXY_KINDS_IN_WORDS,
  PROXY_TYPE_LABELS,
  PROXY_TYPES,
  SCHEDULE_DAY_LABELS,
  SCHEDULE_DAYS,
  SCHEDULE_FREQUENCIES,
} from '../../agent/config-schema.js';
import { POLICY_ADDRESS_MAP_KEY, POLICY_EXCLUSIONS_KEY, POLICY_VALUES } from '../../agent/policy.js';
import { setPath, settingRange } from '../../agent/settings.js';
import { LOG_DEFAULTS } from '../../agent/service-log.js';
import type { Fleet } from '../../fleet/types.js';
import { renderTemplate } from './mdm-templates.js';
import { installTimeArgs, installTimeSecrets, needsNoTools, type Artifact, type BuildContext, type InstallTimeSecret, type Target } from './target.js';

export const GPO_DIR = 'gpo';
export const admxName = (fleet: string) => `holdfast-${fleet}.admx`;
export const admlName = (fleet: string) => `holdfast-${fleet}.adml`;
export const startupScriptName = (fleet: string) => `install-holdfast-${fleet}.cmd`;
export const msiName = (fleet: string) => `holdfast-${fleet}.msi`;

export function policyRegistryKey(fleet: Fleet): string {
  return `Software\\Policies\\${fleet.branding.vendor}\\${fleet.branding.product}`;
}

function policyValueTree(): Record<string, unknown> {
  const tree: Record<string, unknown> = {};
  for (const [name, valueName] of Object.entries(POLICY_VALUES)) setPath(tree, name, valueName);
  return tree;
}

/** The ADMX/ADML pair and the startup script, by file name (ADML under en-US/). */
/** `atInstall`: values the installers lack; the startup script then takes each from a line the admin fills in. */
export function renderGpoFiles(fleet: Fleet, atInstall: InstallTimeSecret[] = []): Record<string, string> {
  const key = policyRegistryKey(fleet);
  // ADMX revisions are major.minor; the fleet's major.minor lets a newer template replace an older one.
  const [major, minor] = fleet.version.split('.');
  const context = {
    fleet: fleet.fleet,
    customer: fleet.customer,
    product: fleet.branding.product,
    version: fleet.version,
    revision: `${Number(major)}.${Number(minor)}`,
    namespace: `Holdfast.Policies.${fleet.fleet.replace(/-/g, '_')}`,
    admxName: admxName(fleet.fleet),
    admlName: admlName(fleet.fleet),
    key,
    exclusionsKey: `${key}\\${POLICY_EXCLUSIONS_KEY}`,
    addressMapKey: `${key}\\${POLICY_ADDRESS_MAP_KEY}`,
    logDefaults: LOG_DEFAULTS,
    // The ranges the agent's schema allows (agent-config.schema.json), so the policy editor refuses what the agent would.
    logLimits: {
      minBytes: settingRange('serviceLog.maxBytes').minimum,
      maxBytes: settingRange('serviceLog.maxBytes').maximum,
      maxFiles: settingRange('serviceLog.files').maximum,
    },
    uploadLimit: settingRange('backup.uploadLimitKiBps'),
    // Value names by setting path (values.proxy.host), from the agent's settings table.
    values: policyValueTree(),
    // The value lists and their display names come from the agent config schema (agent/config-schema.ts).
    proxyTypes: PROXY_TYPES,
    proxyTypeNames: PROXY_TYPE_LABELS,
    proxyKindsText: PROXY_KINDS_IN_WORDS,
    proxyDefaultItem: PROXY_TYPES.indexOf(fleet.proxy.type),
    frequencies: SCHEDULE_FREQUENCIES,
    frequenciesText: inWords(SCHEDULE_FREQUENCIES),
    frequencyDefaultItem: SCHEDULE_FREQUENCIES.indexOf(fleet.backup.schedule.frequency),
    days: SCHEDULE_DAYS,
    dayNames: SCHEDULE_DAY_LABELS,
    scheduleAt: fleet.backup.schedule.at,
    registration: fleet.registration,
  };
  const script = renderTemplate(
    'gpo/install.cmd.hbs',
    {
      fleet: fleet.fleet,
      version: fleet.version,
      msiName: msiName(fleet.fleet),
      markerPath: `%ProgramData%\\Holdfast\\${fleet.fleet}-${fleet.version}.installed`,
      atInstall: atInstall.map((a) => ({ property: a.property, placeholder: a.placeholder, variable: a.variable })),
    },
    { escape: false },
  );
  return {
    [admxName(fleet.fleet)]: renderTemplate('gpo/policy.admx.hbs', context, { escape: false }),
    [`en-US/${admlName(fleet.fleet)}`]: renderTemplate('gpo/policy.adml.hbs', context, { escape: false }),
    // cmd.exe scripts want CRLF line ends.
    [startupScriptName(fleet.fleet)]: script.replace(/\r?\n/g, '\r\n'),
  };
}

/** The silent msiexec line the GPO startup script runs (the MSI on a share computers can read). */
/** `args`: placeholders of properties the admin must fill in at install (installTimeArgs). */
export function gpoInstallCommand(fleet: Fleet, args = ''): string {
  return `msiexec /i "\\\\<fileserver>\\<share>\\${msiName(fleet.fleet)}" /qn /norestart /l*v "%WINDIR%\\Temp\\holdfast-${fleet.fleet}-install.log"${args}`;
}

/** How the startup script is called from the GPO (Scripts > Startup, with the share path as parameter). */
export function gpoStartupScriptCommand(fleet: Fleet): string {
  return `${startupScriptName(fleet.fleet)} "\\\\<fileserver>\\<share>\\${msiName(fleet.fleet)}"`;
}

export const gpoTarget: Target = {
  name: 'gpo',
  description: 'Group Policy: ADMX/ADML for the agent policy settings and a startup script with the silent msiexec line',
  isSupported: needsNoTools,
  async make(ctx: BuildContext): Promise<Artifact[]> {
    const { fleet } = ctx.loaded;
    const dir = join(ctx.outDir, GPO_DIR);
    await mkdir(join(dir, 'en-US'), { recursive: true });
    ctx.progress('gpo: writing ADMX/ADML and the startup script');
    const out: Artifact[] = [];
    const atInstall = installTimeSecrets(fleet, ctx.secrets);
    for (const [name, content] of Object.entries(renderGpoFiles(fleet, atInstall))) {
      const path = join(dir, name);
      await writeFile(path, content);
      const artifact: Artifact = { path, target: 'gpo', description: name };
      if (name.endsWith('.admx'))
        artifact.description = `Group Policy template (ADMX) for ${policyRegistryKey(fleet)}: copy to the PolicyDefinitions Central Store`;
      else if (name.endsWith('.adml')) artifact.description = 'Group Policy language file (en-US ADML): copy to PolicyDefinitions\\en-US';
      else {
        artifact.description = 'Group Policy computer startup script: installs the MSI silently once';
        artifact.installCommands = [{ channel: 'gpo', command: gpoInstallCommand(fleet, installTimeArgs(atInstall)) }];
        if (atInstall.length) artifact.needsAtInstall = atInstall.map((a) => a.property);
      }
      out.push(artifact);
    }
    return out;
  },
};
