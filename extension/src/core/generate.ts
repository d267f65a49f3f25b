import type { GenerateOptions as DeployerOptions, GenerateResult as DeployerResult } from '../../../deployer/generate.js';

export interface TargetInfo {
  name: string;
  description: string;
  dependsOn: readonly string[];
  /** Whether this machine has the tools the target needs; otherwise the missing tool and its install line. */
  support: { ok: true } | { ok: false; missing: string; install: string };
}

/**
 * The deployer's target registry, read from the same modules the CLI runs (names, descriptions, dependencies
 * and each target's own tool check), so the picker never drifts from `holdfast-deploy generate --target`.
 */
export async function listTargets(): Promise<TargetInfo[]> {
  const { targets } = await import('../../../deployer/targets/index.js');
  return Promise.all(
    targets.map(async (t) => ({
      name: t.name,
      description: t.description,
      dependsOn: t.dependsOn ?? [],
      support: await t.isSupported().catch((err: Error) => ({ ok: false as const, missing: err.message, install: '' })),
    })),
  );
}

export interface GenerateOptions {
  fleetFiles: string[];
  outDir: string;
  /** Target names; empty: every target. */
  targets: string[];
  /** Where the fleets' secret references are resolved; default the editor's environment. */
  env?: NodeJS.ProcessEnv;
  /** Every progress line, as `holdfast-deploy generate` prints it ("[acme] msi: start"). */
  onLine?: (line: string) => void;
  /** Cancel: stops the tool running now (wixl, msibuild, npm pack...) and starts no further target. */
  signal?: AbortSignal;
  /** Secrets to leave for the install lines when their variable is unset (the CLI's --technician-id-at-install...). */
  atInstall?: DeployerOptions['atInstall'];
}

/**
 * The deployer's generateFleets, the function `holdfast-deploy generate` runs, in the extension host. Throws the
 * deployer's GenerateError naming the fleet, target and cause (or that the run was cancelled).
 */
export async function runGenerate(o: GenerateOptions): Promise<DeployerResult> {
  const { generateFleets } = await import('../../../deployer/generate.js');
  return generateFleets(o.fleetFiles, {
    outDir: o.outDir,
    targets: o.targets,
    env: o.env,
    signal: o.signal,
    atInstall: o.atInstall,
    progress: (e) => o.onLine?.(e.text),
  });
}

/** A progress line from the deployer, shortened for a notification. */
export function progressMessage(line: string): string | undefined {
  const t = line.trim();
  if (!t || t.startsWith('{')) return undefined;
  return t.length > 90 ? `${t.slice(0, 87)}...` : t;
}
