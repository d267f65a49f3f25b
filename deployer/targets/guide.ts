// The per-fleet admin guide (Markdown and HTML): the seed deployment guide regenerated for one fleet, with
// its subnets, port, proxy, firewall rules and every silent install line.
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { PROXY_KINDS_IN_WORDS } from '../../agent/config-schema.js';
import { DEFAULT_EXCLUDES, describeIncludeEntry, PROFILE_SOURCES } from '../../agent/profiles.js';
import type { Fleet } from '../../fleet/types.js';
import { commentText, firewallModel, ipv4Range, markdownText } from './firewall.js';
import { admlName, admxName, gpoInstallCommand, gpoStartupScriptCommand, msiName, policyRegistryKey, startupScriptName } from './gpo.js';
import { renderTemplate } from './mdm-templates.js';
import { type UninstallChannel, uninstallChannels } from './uninstall-channels.js';
import {
  installTimeArgs,
  installTimeSecrets,
  needsNoTools,
  type Artifact,
  type BuildContext,
  type InstallCommand,
  type InstallTimeSecret,
  type Target,
} from './target.js';

export const GUIDE_MD = 'deployment-guide.md';
export const GUIDE_HTML = 'deployment-guide.html';

export interface GuideChannel {
  channel: InstallCommand['channel'];
  title: string;
  commands: string[];
  note: string;
}

/** Every channel's silent install line: from the artifacts the other targets made, or the names they use. */
export function installChannels(
  fleet: Fleet,
  previous: Artifact[] = [],
  atInstall: InstallTimeSecret[] = [],
  fleetFile = `${fleet.fleet}.fleet.json`,
): GuideChannel[] {
  const given = (channel: InstallCommand['channel']) =>
    previous
      .flatMap((a) => a.installCommands ?? [])
      .filter((c) => c.channel === channel)
      .map((c) => commentText(c.command));
  const msi = basename(previous.find((a) => a.target === 'msi' && a.path.endsWith('.msi'))?.path ?? msiName(fleet.fleet));
  const pkg = basename(previous.find((a) => a.target === 'pkg' && a.path.endsWith('.pkg'))?.path ?? `holdfast-${fleet.fleet}.pkg`);
  const tech = installTimeArgs(atInstall);
  const or = (list: string[], fallback: string[]) => (list.length > 0 ? list : fallback);
  return [
    {
      channel: 'msiexec',
      title: 'Windows, by hand or any software distribution tool (msiexec)',
      commands: or(given('msiexec'), [`msiexec /i ${msi} /qn /norestart /l*v install.log${tech}`]),
      note:
        'Public properties override the built-in values: TECHNICIANID, REGPRIMARY, REGALTERNATE, PROXYTYPE, PROXYHOST, PROXYPORT, PROXYUSER, ' +
        'PROXYPASSWORD. The installer hands them to the agent through its CustomActionData: they never appear in the log or on a command line ' +
        'the installer starts (only on the msiexec line you type).',
    },
    {
      channel: 'intune',
      title: 'Windows, Microsoft Intune (Win32 app)',
      commands: [
        ...or(given('intune'), [`msiexec /i "${msi}" /qn /norestart${tech}`]),
        `holdfast-deploy push intune ${fleetFile} --tenant <tenant-id> --client-id <app-id> --group <group-id>`,
      ],
      note:
        `Upload intune/holdfast-${fleet.fleet}.intunewin (or push it with the command above). Detection: MSI product code; return codes 0 and ` +
        `1707 success, 3010 soft reboot, 1641 hard reboot, 1618 retry; installs as System.`,
    },
    {
      channel: 'gpo',
      title: 'Windows, Active Directory Group Policy',
      commands: [...or(given('gpo'), [gpoInstallCommand(fleet, tech)]), gpoStartupScriptCommand(fleet)],
      note:
        `Either assign ${msi} under Computer Configuration > Policies > Software Settings > Software installation (from a share computers can ` +
        `read), or run gpo/${startupScriptName(fleet.fleet)} as a computer startup script with the share path as its parameter. Agent settings: copy ` +
        `gpo/${admxName(fleet.fleet)} and gpo/en-US/${admlName(fleet.fleet)} to the PolicyDefinitions Central Store; they write ` +
        `HKLM\\${policyRegistryKey(fleet)}, which wins over the installed configuration.`,
    },
    {
      channel: 'installer',
      title: 'macOS, by hand or over SSH (installer)',
      commands: or(given('installer'), [`sudo installer -pkg ${pkg} -target /`]),
      note: 'Grant Full Disk Access with the PPPC profile, or the agent cannot read protected folders.',
    },
    {
      channel: 'jamf',
      title: 'macOS, Jamf Pro',
      commands: [
        ...given('jamf'),
        `holdfast-deploy push jamf ${fleetFile} --url https://<instance>.jamfcloud.com --client-id <api-client-id> --group <computer-group-id>`,
        `sudo jamf policy -event holdfast-${fleet.fleet}`,
      ],
      note:
        `The push uploads ${pkg}, the configuration profiles and the extension attributes, and creates a policy scoped to your group that ` +
        `installs at check-in, or at once with the custom trigger holdfast-${fleet.fleet} (last line, on a Mac).`,
    },
  ];
}

export interface GuideContext {
  fleet: string;
  customer: string;
  product: string;
  vendor: string;
  version: string;
  port: number;
  supportUrl: string | null;
  registration: { primary: string; alternate: string };
  subnets: Array<{ cidr: string; range: string | null }>;
  proxy: {
    type: string;
    host: string | null;
    port: number | null;
    username: string | null;
    authenticated: boolean;
    isSocks: boolean;
    isHttp: boolean;
    none: boolean;
  };
  schedule: string;
  /** What the fleet backs up, in words: folders, the fleet's excludes, the per-OS defaults, protected paths. */
  backupSet: {
    defaultInclude: boolean;
    include: string[];
    profileSources: Array<{ os: string; where: string }>;
    exclude: string[];
    defaultExcludes: Array<{ os: string; patterns: string[] }>;
    protectedPaths: string[];
  };
  /** The proxies agents can use, in words ("SOCKS4, ... or HTTP CONNECT"), from the agent config schema. */
  proxyKinds: string;
  technicianIdEmbedded: boolean;
  /** Values every install line must give because the installers carry none ("TECHNICIANID=<Technician ID>"). */
  atInstall: Array<{ property: string; placeholder: string; variable: string }>;
  channels: GuideChannel[];
  uninstall: UninstallChannel[];
  rows: ReturnType<typeof firewallModel>['rows'];
  policyKey: string;
}

export function guideContext(fleet: Fleet, previous: Artifact[], atInstall: InstallTimeSecret[], fleetFile?: string): GuideContext {
  const fw = firewallModel(fleet);
  const s = fleet.backup.schedule;
  const schedule =
    s.frequency === 'manual'
      ? 'manual only'
      : s.frequency === 'hourly'
        ? 'every hour'
        : s.frequency === 'weekly'
          ? `weekly on ${s.day ?? 'mon'} at ${s.at}`
          : `daily at ${s.at}`;
  return {
    fleet: fleet.fleet,
    customer: fleet.customer,
    product: fleet.branding.product,
    vendor: fleet.branding.vendor,
    version: fleet.version,
    port: fleet.port,
    supportUrl: fleet.branding.supportUrl ?? null,
    registration: fleet.registration,
    subnets: fw.subnets.map((x) => ({ cidr: x.cidr, range: ipv4Range(x.cidr) ?? null })),
    proxy: {
      type: fleet.proxy.type,
      host: fleet.proxy.host ?? null,
      port: fleet.proxy.port ?? null,
      username: fleet.proxy.username ?? null,
      authenticated: fleet.proxy.password !== undefined,
      isSocks: fleet.proxy.type.startsWith('socks'),
      isHttp: fleet.proxy.type === 'http',
      none: fleet.proxy.type === 'none',
    },
    schedule,
    backupSet: {
      defaultInclude: fleet.backup.include.length === 0,
      include: fleet.backup.include.map(describeIncludeEntry),
      profileSources: Object.values(PROFILE_SOURCES).map(({ os, where }) => ({ os, where })),
      exclude: [...fleet.backup.exclude],
      defaultExcludes: (['win32', 'darwin'] as const).map((p) => ({ os: PROFILE_SOURCES[p].os, patterns: DEFAULT_EXCLUDES[p] })),
      protectedPaths: fleet.backup.protectedPaths.map(describeIncludeEntry),
    },
    proxyKinds: PROXY_KINDS_IN_WORDS,
    technicianIdEmbedded: !atInstall.some((a) => a.key === 'technicianId'),
    atInstall: atInstall.map(({ property, placeholder, variable }) => ({ property, placeholder, variable })),
    channels: installChannels(fleet, previous, atInstall, fleetFile),
    uninstall: uninstallChannels(fleet, previous, fleetFile),
    rows: fw.rows,
    policyKey: `HKLM\\${policyRegistryKey(fleet)}`,
  };
}

/** Markdown-escape every string in a context (except command lines and placeholders, which go into code). */
function markdownContext(value: unknown, key = ''): unknown {
  if (typeof value === 'string')
    return key === 'commands' || key === 'placeholder' || key === 'variable' ? commentText(value).replace(/`{3,}/g, '` ` `') : markdownText(value);
  if (Array.isArray(value)) return value.map((v) => markdownContext(v, key));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, markdownContext(v, k)]));
  return value;
}

export function renderGuide(ctx: GuideContext): { markdown: string; html: string } {
  return {
    markdown: renderTemplate('guide/deployment-guide.md.hbs', markdownContext(ctx), { escape: false }),
    html: renderTemplate('guide/deployment-guide.html.hbs', ctx, { escape: true }),
  };
}

export const guideTarget: Target = {
  name: 'guide',
  description: 'Deployment guide for the fleet (Markdown and HTML): install lines for every channel, firewall rules, proxy notes, verification',
  isSupported: needsNoTools,
  async make(ctx: BuildContext): Promise<Artifact[]> {
    ctx.progress('guide: rendering the deployment guide');
    const { markdown, html } = renderGuide(
      guideContext(ctx.loaded.fleet, ctx.previous, installTimeSecrets(ctx.loaded.fleet, ctx.secrets), basename(ctx.loaded.file)),
    );
    const md = join(ctx.outDir, GUIDE_MD);
    const htmlFile = join(ctx.outDir, GUIDE_HTML);
    await writeFile(md, markdown);
    await writeFile(htmlFile, html);
    return [
      { path: md, target: 'guide', description: 'Deployment guide for this fleet (Markdown)' },
      { path: htmlFile, target: 'guide', description: 'Deployment guide for this fleet (HTML)' },
    ];
  },
};
