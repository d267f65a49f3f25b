// Jamf / macOS MDM hand-off files: the managed-preferences profile for the agent's preference domain, a PPPC
// profile granting Full Disk Access to the bundled Node runtimes, and Jamf extension-attribute scripts.
// Profiles are built with the plist package; UUIDs are derived from the fleet so re-generating keeps them stable
// (Jamf and MDMs treat a new PayloadUUID as a new profile).
import { open, stat } from 'node:fs/promises';
import { build, type PlistValue } from 'plist';

type PlistObject = { [key: string]: PlistValue };
import type { AgentConfig } from '../../agent/config-types.js';
import { getPath, isSecret, PLIST_SETTINGS } from '../../agent/settings.js';
import type { Fleet } from '../../fleet/types.js';
import { CONFIG_FILE, LAUNCHER, MAC_ARCHES, runtimeBinary, type MacArch } from './layout.js';
import { render } from './templates.js';
import { nameUuid } from '../name-uuid.js';

export const settingsProfileName = (fleet: string) => `holdfast-${fleet}-settings.mobileconfig`;
export const pppcProfileName = (fleet: string) => `holdfast-${fleet}-pppc.mobileconfig`;

export const SECRETS_NOTE =
  'The Technician ID and proxy password are deliberately not in this profile (any local user can read installed ' +
  'profiles), and the agent does not read them from managed preferences. They travel only in the pkg, whose ' +
  'postinstall writes them to the root-only (0600) agent.json.';

function envelope(fleet: Fleet, kind: string, displayName: string, description: string, content: PlistObject[]): string {
  const id = `${fleet.branding.bundleId}.${fleet.fleet}.${kind}`;
  return build({
    PayloadContent: content,
    PayloadDescription: description,
    PayloadDisplayName: displayName,
    PayloadIdentifier: id,
    PayloadOrganization: fleet.customer,
    PayloadRemovalDisallowed: true,
    PayloadScope: 'System',
    PayloadType: 'Configuration',
    PayloadUUID: nameUuid(fleet.fleet, fleet.branding.bundleId, kind, 'profile'),
    PayloadVersion: 1,
  });
}

/**
 * The managed preferences a fleet sets: one key per plist setting of the agent's settings table (agent/settings.ts)
 * that the fleet gives a value, read from the agent.json the installers lay down for it. Secrets have no plist key:
 * a profile is readable by every local user (`profiles show`, /Library/Managed Preferences).
 */
export function managedPreferences(config: AgentConfig): PlistObject {
  const prefs: PlistObject = {};
  for (const row of PLIST_SETTINGS) {
    if (isSecret(row)) throw new Error(`settings table: ${row.name} is a secret and must have no plist key`);
    const value = getPath(config, row.name);
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) continue;
    prefs[row.plistKey] = value as PlistValue;
  }
  return prefs;
}

/** Managed preferences for the agent's domain (branding.bundleId): servers, proxy, schedule, exclusions; no secrets. */
export function settingsProfile(fleet: Fleet, config: AgentConfig): string {
  const domain = fleet.branding.bundleId;
  return envelope(
    fleet,
    'settings',
    `${fleet.branding.product} settings`,
    `Managed settings for ${fleet.branding.product} (fleet ${fleet.fleet}). ${SECRETS_NOTE}`,
    [
      {
        PayloadDisplayName: `${fleet.branding.product} managed preferences`,
        PayloadIdentifier: `${domain}.${fleet.fleet}.settings.preferences`,
        PayloadType: domain,
        PayloadUUID: nameUuid(fleet.fleet, domain, 'settings', 'preferences'),
        PayloadVersion: 1,
        ...managedPreferences(config),
      },
    ],
  );
}

export interface Signature {
  /** Developer ID team identifier found in the binary's embedded signature, if any. */
  teamId?: string;
  signer?: string;
}

/** Finds the Developer ID signer in a Mach-O's embedded CMS signature (a byte scan: no Apple tools here). */
export async function readSignature(binary: string): Promise<Signature> {
  const { size } = await stat(binary);
  // The code signature sits at the end of the Mach-O; scan the last 2 MiB.
  const length = Math.min(size, 2 << 20);
  const fh = await open(binary, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    const m = /Developer ID Application: ([^()\0]{1,100}) \(([A-Z0-9]{10})\)/.exec(buf.toString('latin1'));
    return m ? { signer: m[1], teamId: m[2] } : {};
  } finally {
    await fh.close();
  }
}

/** Designated requirement of a Developer ID signed binary with this identifier and team. */
export function developerIdRequirement(identifier: string, teamId: string): string {
  return (
    `identifier "${identifier}" and anchor apple generic and certificate 1[field.1.2.840.113635.100.6.2.6] /* exists */ ` +
    `and certificate leaf[field.1.2.840.113635.100.6.1.13] /* exists */ and certificate leaf[subject.OU] = ${teamId}`
  );
}

export interface PppcResult {
  xml: string;
  codeRequirement: string;
  warnings: string[];
}

/**
 * PPPC profile granting Full Disk Access (SystemPolicyAllFiles) to both bundled Node runtimes (the process launchd
 * runs after the launcher's exec). The code requirement comes from the fleet (signing.macos.codeRequirement), or is
 * derived from the runtimes' Developer ID signature; unsigned runtimes get a warning: FDA needs a signed binary.
 */
export async function pppcProfile(fleet: Fleet, runtimes: Record<MacArch, string>): Promise<PppcResult> {
  const warnings: string[] = [];
  let requirement = fleet.signing?.macos?.codeRequirement;
  if (!requirement) {
    const sigs = await Promise.all(MAC_ARCHES.map(async (a) => ({ arch: a, sig: await readSignature(runtimes[a]) })));
    const unsigned = sigs.filter((s) => !s.sig.teamId);
    const teams = new Set(sigs.map((s) => s.sig.teamId).filter(Boolean));
    if (unsigned.length || teams.size !== 1) {
      warnings.push(
        `PPPC: the ${unsigned.map((s) => s.arch).join(' and ') || 'bundled'} Node runtime(s) carry no single Developer ID signature. ` +
          'Full Disk Access needs a signed binary: macOS ignores a PPPC grant whose code requirement does not match. ' +
          'Ship signed runtimes or set signing.macos.codeRequirement in the fleet (see `codesign -dr - <binary>` on a Mac).',
      );
      requirement = 'identifier "node" and anchor apple generic';
    } else {
      requirement = developerIdRequirement('node', [...teams][0]!);
    }
  }
  const domain = fleet.branding.bundleId;
  const xml = envelope(
    fleet,
    'pppc',
    `${fleet.branding.product} Full Disk Access`,
    `Grants ${fleet.branding.product} Full Disk Access so it can back up protected folders.`,
    [
      {
        PayloadDisplayName: 'Privacy Preferences Policy Control',
        PayloadIdentifier: `${domain}.${fleet.fleet}.pppc.tcc`,
        PayloadType: 'com.apple.TCC.configuration-profile-policy',
        PayloadUUID: nameUuid(fleet.fleet, domain, 'pppc', 'tcc'),
        PayloadVersion: 1,
        Services: {
          SystemPolicyAllFiles: MAC_ARCHES.map((arch) => ({
            Identifier: runtimeBinary(arch),
            IdentifierType: 'path',
            CodeRequirement: requirement!,
            Authorization: 'Allow',
            StaticCode: false,
            Comment: `${fleet.branding.product} agent (${arch} runtime)`,
          })),
        },
      },
    ],
  );
  return { xml, codeRequirement: requirement, warnings };
}

export interface EaScript {
  file: string;
  name: string;
  description: string;
  contents: string;
}

export const EA_THRESHOLDS = { warnDays: 2, critDays: 7 };

/** Jamf extension-attribute scripts (POSIX sh; JSON parsed by the bundled node). Names are stable for uploaders. */
export async function extensionAttributeScripts(thresholds = EA_THRESHOLDS): Promise<EaScript[]> {
  const common = { launcher: LAUNCHER, config: CONFIG_FILE, nodeX64: runtimeBinary('x86_64'), nodeArm64: runtimeBinary('arm64'), ...thresholds };
  const defs = [
    {
      file: 'holdfast-ea-agent-version.sh',
      mode: 'version',
      name: 'Holdfast Agent Version',
      description: 'Agent version from `status --json`; "Not installed" when the agent is missing.',
    },
    {
      file: 'holdfast-ea-last-backup.sh',
      mode: 'last-backup',
      name: 'Holdfast Last Successful Backup',
      description: 'Time of the last successful backup (ISO 8601, UTC), or "Never".',
    },
    {
      file: 'holdfast-ea-health.sh',
      mode: 'health',
      name: 'Holdfast Backup Health',
      description:
        `Healthy if the last successful backup is under ${thresholds.warnDays} days old, Warning under ${thresholds.critDays} days, else ` +
        `(or never) Critical.`,
    },
    {
      file: 'holdfast-ea-skipped.sh',
      mode: 'skipped',
      name: 'Holdfast Skipped Files',
      description:
        'Paths the last backup could not read (permission denied, locked, vanished): "None", or the count and the first ' +
        'paths with their reason ("2 skipped: /Users/a/x.db (locked); ..."). Such a backup completed with warnings.',
    },
  ];
  return Promise.all(
    defs.map(async (d) => ({
      file: d.file,
      name: d.name,
      description: d.description,
      contents: await render('ea.sh.hbs', {
        ...common,
        mode: d.mode,
        title: d.name,
        description: d.description,
        notInstalled: d.mode === 'health' ? 'Critical' : 'Not installed',
      }),
    })),
  );
}
