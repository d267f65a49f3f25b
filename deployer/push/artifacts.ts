// Finds what `holdfast-deploy generate` wrote for a fleet: the manifest's artifacts first, else the known
// file names of the targets in dist/<fleet>.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';

import { readJsonFile } from '../../common/json-file.js';
import { uninstallFileName } from '../../installers/mac/index.js';
import { INTUNE_DIR, MAC_PKG_APP_JSON, WIN32_APP_JSON, intuneWinName } from '../targets/intune.js';

export interface ManifestArtifact {
  target: string;
  path: string;
  description?: string;
}

async function manifestArtifacts(fleetDir: string): Promise<ManifestArtifact[] | undefined> {
  const file = join(fleetDir, 'manifest.json');
  if (!existsSync(file)) return undefined;
  const manifest = (await readJsonFile(file, 'the manifest')) as { artifacts?: ManifestArtifact[] };
  return (manifest.artifacts ?? []).map((a) => ({ target: a.target, path: resolve(fleetDir, a.path), description: a.description }));
}

async function walk(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

export interface IntuneArtifacts {
  intunewin: string;
  appJson: string;
}

/** The Windows app files, or undefined when generate did not make them. */
export async function findIntuneArtifactsIfAny(fleetDir: string, fleetId: string): Promise<IntuneArtifacts | undefined> {
  try {
    return await findIntuneArtifacts(fleetDir, fleetId);
  } catch {
    return undefined;
  }
}

export async function findIntuneArtifacts(fleetDir: string, fleetId: string): Promise<IntuneArtifacts> {
  const listed = await manifestArtifacts(fleetDir);
  const pick = (ext: string, fallback: string) =>
    listed?.find((a) => a.target === 'intune' && a.path.endsWith(ext))?.path ?? join(fleetDir, INTUNE_DIR, fallback);
  const intunewin = pick('.intunewin', intuneWinName(fleetId));
  const appJson = pick(WIN32_APP_JSON, WIN32_APP_JSON);
  for (const f of [intunewin, appJson]) {
    if (!existsSync(f))
      throw new Error(`${f} does not exist: run \`holdfast-deploy generate <fleet file> --target msi,intune\` first (or pass --out where generate wrote)`);
  }
  return { intunewin, appJson };
}

export interface IntuneMacArtifacts {
  /** The macOSPkgApp body and the pkg it describes, when both exist. */
  pkgApp?: { appJson: string; pkg: string };
  /** macOSCustomConfiguration bodies. */
  profiles: string[];
}

/** What the intune-macos target wrote (nothing is an empty result, not an error). */
export async function findIntuneMacArtifacts(fleetDir: string): Promise<IntuneMacArtifacts> {
  const listed = await manifestArtifacts(fleetDir);
  const files = listed ? listed.map((a) => a.path) : await walk(fleetDir);
  const appJson = files.find((f) => basename(f) === MAC_PKG_APP_JSON);
  const pkg = files.find((f) => f.endsWith('.pkg'));
  return {
    ...(appJson && pkg && existsSync(appJson) && existsSync(pkg) && { pkgApp: { appJson, pkg } }),
    profiles: files.filter((f) => /^macOSCustomConfiguration-.*\.json$/.test(basename(f)) && existsSync(f)).sort(),
  };
}

export interface JamfArtifacts {
  pkg: string;
  profiles: string[];
  /** The pkg target's uninstall script, when it is there. */
  uninstallScript?: string;
  /** Script files, with the display name the pkg target gave them (manifest description) when known. */
  extensionAttributes: Array<{ file: string; name?: string }>;
}

const EA_SCRIPT = /(extension[-_ ]?attribute|(^|[-_/])ea[-_])[^/]*\.(sh|zsh)$/i;

export async function findJamfArtifacts(fleetDir: string, fleetId: string): Promise<JamfArtifacts> {
  const listed = await manifestArtifacts(fleetDir);
  const files = listed ? listed.map((a) => a.path) : await walk(fleetDir);
  const rel = (f: string) => relative(fleetDir, f);
  const pkg = files.find((f) => f.endsWith('.pkg'));
  if (!pkg || !existsSync(pkg))
    throw new Error(
      `no .pkg in ${fleetDir}: run \`holdfast-deploy generate <fleet file> --target pkg,jamf-profiles\` first (or pass --out where generate wrote)`,
    );
  const uninstallScript = files.find((f) => basename(f) === uninstallFileName(fleetId) && existsSync(f));
  return {
    pkg,
    ...(uninstallScript && { uninstallScript }),
    profiles: files.filter((f) => f.endsWith('.mobileconfig')).sort(),
    extensionAttributes: files
      .filter((f) => EA_SCRIPT.test(rel(f)) || EA_SCRIPT.test(basename(f)))
      .sort()
      .map((file) => {
        const name = /extension attribute "([^"]+)"/i.exec(listed?.find((a) => a.path === file)?.description ?? '')?.[1];
        return name ? { file, name } : { file };
      }),
  };
}
