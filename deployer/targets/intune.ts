// Intune hand-off: the .intunewin of the fleet's MSI plus the Graph win32LobApp body (Windows), and the
// macOSPkgApp / macOSCustomConfiguration bodies for the pkg and profiles the macOS targets made.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { macOSCustomConfigurationBody, macOSPkgAppBody, msiInstallCommand, win32LobAppBody } from '../../installers/intune/graph-app.js';
import { writeIntuneWin } from '../../installers/intune/intunewin.js';
import { readMsiInfo } from '../../installers/intune/msi-info.js';
import { installTimeArgs, installTimeSecrets, needsNoTools, type Artifact, type BuildContext, type Support, type Target } from './target.js';

const run = promisify(execFile);

/** Where the intune targets write, relative to dist/<fleet>. */
export const INTUNE_DIR = 'intune';
export const WIN32_APP_JSON = 'win32LobApp.json';
export const MAC_PKG_APP_JSON = 'macOSPkgApp.json';
export const macProfileJsonName = (mobileconfig: string) => `macOSCustomConfiguration-${basename(mobileconfig, '.mobileconfig')}.json`;
export const intuneWinName = (fleet: string) => `holdfast-${fleet}.intunewin`;

/** A file an earlier target made, by target name and extension (artifact paths may be relative to outDir). */
export function previousArtifacts(ctx: BuildContext, target: string, ext: string): string[] {
  return ctx.previous.filter((a) => a.target === target && a.path.endsWith(ext)).map((a) => resolve(ctx.outDir, a.path));
}

async function hasCommand(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

function describe(ctx: BuildContext): { displayName: string; publisher: string; description: string; informationUrl?: string } {
  const { fleet } = ctx.loaded;
  return {
    displayName: fleet.branding.product,
    publisher: fleet.branding.vendor,
    description: `${fleet.branding.product} backup agent for ${fleet.customer} (fleet ${fleet.fleet}, version ${fleet.version})`,
    ...(fleet.branding.supportUrl && { informationUrl: fleet.branding.supportUrl }),
  };
}

async function writeJson(file: string, body: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(body, null, 2)}\n`);
}

export const intuneTarget: Target = {
  name: 'intune',
  description: 'Intune Win32 app: .intunewin of the MSI and the Graph win32LobApp JSON',
  dependsOn: ['msi'],
  async isSupported(): Promise<Support> {
    if (await hasCommand('msiinfo', ['--version'])) return { ok: true };
    return { ok: false, missing: 'msiinfo (msitools)', install: 'apt-get install -y msitools' };
  },
  async make(ctx: BuildContext): Promise<Artifact[]> {
    const [msiPath] = previousArtifacts(ctx, 'msi', '.msi');
    if (!msiPath || !existsSync(msiPath)) throw new Error('intune: no MSI from the msi target; generate with --target msi,intune');
    const { fleet } = ctx.loaded;
    const dir = join(ctx.outDir, INTUNE_DIR);
    await mkdir(dir, { recursive: true });
    ctx.progress('intune: reading MSI metadata');
    const msi = await readMsiInfo(msiPath);
    ctx.progress('intune: packaging and encrypting the MSI (.intunewin)');
    const outFile = join(dir, intuneWinName(fleet.fleet));
    await writeIntuneWin({ setupFile: msiPath, outFile, msi });
    const atInstall = installTimeSecrets(fleet, ctx.secrets);
    const installArgs = installTimeArgs(atInstall);
    const needs = atInstall.length ? { needsAtInstall: atInstall.map((a) => a.property) } : {};
    const body = win32LobAppBody({ ...describe(ctx), fileName: basename(outFile), setupFile: basename(msiPath), msi, installArgs });
    const jsonFile = join(dir, WIN32_APP_JSON);
    await writeJson(jsonFile, body);
    return [
      {
        path: outFile,
        target: 'intune',
        description: 'Intune Win32 app package (upload with `holdfast-deploy push intune` or the Intune admin center)',
        installCommands: [{ channel: 'intune', command: msiInstallCommand(basename(msiPath), installArgs) }],
        ...needs,
      },
      {
        path: jsonFile,
        target: 'intune',
        description: 'Graph win32LobApp body: install/uninstall lines, MSI product-code detection, return codes',
        ...needs,
      },
    ];
  },
};

export const intuneMacosTarget: Target = {
  name: 'intune-macos',
  description: 'Intune macOS: Graph macOSPkgApp JSON for the pkg and macOSCustomConfiguration JSON per profile',
  dependsOn: ['pkg', 'jamf-profiles'],
  isSupported: needsNoTools,
  async make(ctx: BuildContext): Promise<Artifact[]> {
    const { fleet } = ctx.loaded;
    const dir = join(ctx.outDir, INTUNE_DIR);
    await mkdir(dir, { recursive: true });
    const out: Artifact[] = [];
    const [pkg] = previousArtifacts(ctx, 'pkg', '.pkg');
    if (pkg) {
      const file = join(dir, MAC_PKG_APP_JSON);
      await writeJson(file, macOSPkgAppBody({ ...describe(ctx), fileName: basename(pkg), bundleId: fleet.branding.bundleId, version: fleet.version }));
      out.push({ path: file, target: 'intune-macos', description: `Graph macOSPkgApp body for ${basename(pkg)}` });
    } else {
      ctx.progress('intune-macos: no pkg from the pkg target; skipping the macOSPkgApp body');
    }
    for (const profile of previousArtifacts(ctx, 'jamf-profiles', '.mobileconfig')) {
      const payload = await readFile(profile);
      const name = basename(profile);
      const file = join(dir, macProfileJsonName(profile));
      await writeJson(
        file,
        macOSCustomConfigurationBody({
          displayName: `${fleet.branding.product} – ${basename(profile, '.mobileconfig')}`,
          description: `${fleet.branding.product} profile for ${fleet.customer}`,
          payload,
          payloadFileName: name,
          payloadName: basename(profile, '.mobileconfig'),
        }),
      );
      out.push({ path: file, target: 'intune-macos', description: `Graph macOSCustomConfiguration body for ${name}` });
    }
    return out;
  },
};
