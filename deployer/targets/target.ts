import type { Fleet, FleetSecrets, LoadedFleet } from '../../fleet/types.js';

/** How an admin installs an artifact silently through one channel. */
export interface InstallCommand {
  channel: 'msiexec' | 'intune' | 'gpo' | 'installer' | 'jamf' | 'uninstall';
  command: string;
}

/** One file a target wrote; the manifest lists each with its size and SHA-256. */
export interface Artifact {
  path: string;
  target: string;
  description: string;
  installCommands?: InstallCommand[];
  /** Installer properties this artifact needs on its install line because generate had no value for them. */
  needsAtInstall?: string[];
}

/**
 * A secret the fleet takes from an environment variable that was not set at generate time: the installers carry
 * none, so each install line must give it (`TECHNICIANID=<Technician ID>`), or installs fail (MSI error 1603).
 */
export interface InstallTimeSecret {
  key: 'technicianId' | 'proxyPassword';
  /** The variable the fleet names (a name, never a value). */
  variable: string;
  /** The MSI public property that takes the value at install time. */
  property: string;
  placeholder: string;
  /** The generate flag that accepts building without it. */
  flag: string;
}

const INSTALL_TIME: Array<Omit<InstallTimeSecret, 'variable'> & { ref(f: Fleet): unknown }> = [
  { key: 'technicianId', property: 'TECHNICIANID', placeholder: '<Technician ID>', flag: '--technician-id-at-install', ref: (f) => f.technicianId },
  { key: 'proxyPassword', property: 'PROXYPASSWORD', placeholder: '<proxy password>', flag: '--proxy-password-at-install', ref: (f) => f.proxy.password },
];

/** Every secret that may be left for the install line: its property, placeholder and generate flag (no fleet needed). */
export function installTimeKinds(): Array<Omit<InstallTimeSecret, 'variable'>> {
  return INSTALL_TIME.map(({ ref: _ref, ...rest }) => rest);
}

/** The fleet's secrets that come from an environment variable left unset: they must be given at install time. */
export function installTimeSecrets(fleet: Fleet, secrets: FleetSecrets): InstallTimeSecret[] {
  const out: InstallTimeSecret[] = [];
  for (const { ref, ...rest } of INSTALL_TIME) {
    const r = ref(fleet);
    if (r && typeof r === 'object' && secrets[rest.key] === undefined) out.push({ ...rest, variable: (r as { env: string }).env });
  }
  return out;
}

/** The placeholders an install line carries for those secrets: " TECHNICIANID=<Technician ID>" (never a value). */
export function installTimeArgs(list: InstallTimeSecret[]): string {
  return list.map((s) => ` ${s.property}=${s.placeholder}`).join('');
}

export type Support = { ok: true } | { ok: false; missing: string; install: string };

/** What isSupported() may check besides the machine's tools. */
export interface SupportContext {
  /** The cache the run will use (default: the user's, installers/runtimes.ts defaultCacheDir()). */
  cacheDir?: string;
}

/** isSupported() of a target that needs no tool outside Node: always supported. */
export async function needsNoTools(): Promise<Support> {
  return { ok: true };
}

export interface BuildContext {
  loaded: LoadedFleet;
  secrets: FleetSecrets;
  /** dist/<fleet>: every artifact of this fleet goes here. */
  outDir: string;
  /** A cache shared by every fleet of one generate run and across runs: build shared work once. */
  cacheDir: string;
  /** Artifacts the targets that ran before this one made (e.g. the MSI for the Intune package). */
  previous: Artifact[];
  progress(message: string): void;
}

/** One installer or hand-off format, like an electron-forge maker. */
export interface Target {
  readonly name: string;
  readonly description: string;
  /** Targets whose artifacts this one consumes; they run first. */
  readonly dependsOn?: readonly string[];
  /** Whether the tools (and downloads) this target needs are here; names what is missing and how to get it. */
  isSupported(ctx?: SupportContext): Promise<Support>;
  make(ctx: BuildContext): Promise<Artifact[]>;
}
