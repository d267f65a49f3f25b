import type { FleetSecrets, LoadedFleet } from '../../fleet/types.js';

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
