// Windows MSI target: the agent, a Node runtime and the service wrapper, preconfigured for the fleet.
import { basename } from 'node:path';
import { buildFleetMsi, msiFileName } from '../../installers/win/index.js';
import { runtimesSupport } from '../../installers/runtimes.js';
import { hasTool, installLine } from '../../installers/win/tools.js';
import {
  installTimeArgs,
  installTimeSecrets,
  type Artifact,
  type BuildContext,
  type InstallCommand,
  type Support,
  type SupportContext,
  type Target,
} from './target.js';

const TOOLS = ['wixl', 'msibuild', 'msiinfo', 'gcab', 'x86_64-w64-mingw32-gcc'];

/** The silent install and uninstall lines for an MSI; `args` holds placeholders for secrets given at install (never a secret). */
export function msiInstallCommands(msiName: string, args = ''): InstallCommand[] {
  const log = `${msiName.replace(/\.msi$/, '')}-install.log`;
  return [
    { channel: 'msiexec', command: `msiexec /i ${msiName} /qn /norestart /l*v ${log}${args}` },
    { channel: 'uninstall', command: `msiexec /x ${msiName} /qn /norestart` },
  ];
}

export const msiTarget: Target = {
  name: 'msi',
  description: 'Windows MSI (x64): agent, Node runtime and service wrapper, preconfigured for the fleet',
  async isSupported(ctx?: SupportContext): Promise<Support> {
    const missing: string[] = [];
    for (const tool of TOOLS) if (!(await hasTool(tool))) missing.push(tool);
    const runtime = await runtimesSupport(['win-x64'], ctx?.cacheDir);
    if (missing.length === 0) return runtime;
    const tools = { missing: missing.join(', '), install: installLine(missing) };
    return runtime.ok
      ? { ok: false, ...tools }
      : { ok: false, missing: `${tools.missing}; ${runtime.missing}`, install: `${tools.install}; ${runtime.install}` };
  },
  async make(ctx: BuildContext): Promise<Artifact[]> {
    const signing = ctx.loaded.fleet.signing?.windows;
    if (signing && !(await hasTool('osslsigncode'))) {
      throw new Error(`the fleet names a signing certificate but osslsigncode is missing: ${installLine(['osslsigncode'])}`);
    }
    const result = await buildFleetMsi({ loaded: ctx.loaded, secrets: ctx.secrets, outDir: ctx.outDir, cacheDir: ctx.cacheDir, progress: ctx.progress });
    const atInstall = installTimeSecrets(ctx.loaded.fleet, ctx.secrets);
    const name = msiFileName(ctx.loaded.fleet.fleet);
    return [
      {
        path: result.path,
        target: 'msi',
        description: `Windows installer${result.signed ? ' (Authenticode-signed)' : ''}; ${
          result.technicianIdEmbedded ? 'Technician ID embedded' : 'no Technician ID embedded: TECHNICIANID must be given at install'
        }; ProductCode {${result.productCode}}`,
        installCommands: msiInstallCommands(basename(name), installTimeArgs(atInstall)),
        ...(atInstall.length && { needsAtInstall: atInstall.map((a) => a.property) }),
      },
    ];
  },
};
