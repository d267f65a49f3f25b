// dist/<fleet>/manifest.json: every artifact with size and SHA-256, and the silent-install command lines.
// Never holds a secret: install commands carry placeholders, descriptions say only whether a secret is embedded.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Fleet } from '../fleet/types.js';
import type { Artifact, InstallCommand, InstallTimeSecret } from './targets/target.js';

export const MANIFEST_NAME = 'manifest.json';

export interface ManifestArtifact {
  target: string;
  /** Relative to the manifest's folder, with '/' separators. */
  path: string;
  size: number;
  sha256: string;
  description: string;
  installCommands?: InstallCommand[];
  /** Installer properties its install line must give (placeholders in installCommands): generate had no value. */
  needsAtInstall?: string[];
}

export interface Manifest {
  fleet: string;
  customer: string;
  version: string;
  generatedAt: string;
  generator: string;
  /** Whether the installers carry the Technician ID, or it must be given at install time. */
  technicianId: 'embedded' | 'required at install';
  /** Every value the installers lack and each install line must give ("TECHNICIANID=<Technician ID>"); names, never values. */
  requiredAtInstall: Array<{ property: string; placeholder: string; variable: string }>;
  artifacts: ManifestArtifact[];
  /** One command line per channel (msiexec, uninstall, intune, gpo, installer, jamf...), first artifact wins. */
  installCommands: Partial<Record<InstallCommand['channel'], string>>;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function buildManifest(
  fleet: Fleet,
  fleetOutDir: string,
  artifacts: Artifact[],
  atInstall: InstallTimeSecret[],
  now: Date = new Date(),
): Promise<Manifest> {
  const entries: ManifestArtifact[] = [];
  const installCommands: Manifest['installCommands'] = {};
  for (const a of artifacts) {
    const abs = resolve(fleetOutDir, a.path);
    const { size } = await stat(abs);
    entries.push({
      target: a.target,
      path: relative(fleetOutDir, abs).split(sep).join('/'),
      size,
      sha256: await sha256File(abs),
      description: a.description,
      ...(a.installCommands?.length && { installCommands: a.installCommands }),
      ...(a.needsAtInstall?.length && { needsAtInstall: a.needsAtInstall }),
    });
    for (const c of a.installCommands ?? []) installCommands[c.channel] ??= c.command;
  }
  return {
    fleet: fleet.fleet,
    customer: fleet.customer,
    version: fleet.version,
    generatedAt: now.toISOString(),
    generator: 'holdfast-deploy',
    technicianId: atInstall.some((a) => a.key === 'technicianId') ? 'required at install' : 'embedded',
    requiredAtInstall: atInstall.map(({ property, placeholder, variable }) => ({ property, placeholder, variable })),
    artifacts: entries,
    installCommands,
  };
}

export async function writeManifest(fleetOutDir: string, manifest: Manifest): Promise<string> {
  const file = join(fleetOutDir, MANIFEST_NAME);
  await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return file;
}
