// macOS flat pkg target: agent, both Node runtimes (x86_64 + arm64), LaunchDaemon; config laid down by postinstall.
import { basename } from 'node:path';
import { buildMacPkg } from '../../installers/mac/index.js';
import { runtimesSupport } from '../../installers/runtimes.js';
import type { Artifact, BuildContext, Target } from './target.js';

export const pkgTarget: Target = {
  name: 'pkg',
  description: 'macOS flat pkg (x86_64 + arm64) built without Apple tools, plus its uninstall script',
  // Pure TypeScript writers. The runtimes come from HOLDFAST_RUNTIME_DARWIN_*, the user's cache or the npm registry
  // (buildMacPkg takes them from the user's cache whatever cache the run uses).
  isSupported: () => runtimesSupport(['darwin-x64', 'darwin-arm64']),
  async make(ctx: BuildContext): Promise<Artifact[]> {
    const level = process.env.HOLDFAST_PKG_GZIP_LEVEL;
    if (level !== undefined && !/^[1-9]$/.test(level))
      throw new Error(`HOLDFAST_PKG_GZIP_LEVEL=${JSON.stringify(level)} is not allowed: use 1 (fastest) to 9 (smallest); default 6`);
    const r = await buildMacPkg({
      loaded: ctx.loaded,
      secrets: ctx.secrets,
      outDir: ctx.outDir,
      cacheDir: ctx.cacheDir,
      progress: ctx.progress,
      ...(level !== undefined && { gzipLevel: Number(level) }),
    });
    const embedded = ctx.secrets.technicianId !== undefined;
    if (!embedded) ctx.progress('pkg: no Technician ID embedded: run `holdfast-agent register` on each Mac or set the environment variable the fleet names');
    const signature = r.signedBy ? `signed by ${r.signedBy}, not notarized` : 'unsigned';
    const pkgName = basename(r.pkg);
    const unName = basename(r.uninstallScript);
    return [
      {
        path: r.pkg,
        target: 'pkg',
        description:
          `macOS installer package ${r.identifier} ${r.version} (${signature}; x86_64 + arm64, macOS 11+); ` +
          `${embedded ? 'Technician ID embedded in its Scripts (distribute privately)' : 'no Technician ID embedded'}; ${r.numberOfFiles} payload ` +
          `entries, ${r.installKBytes} KB installed`,
        installCommands: [
          { channel: 'installer', command: `sudo installer -pkg ${pkgName} -target /` },
          { channel: 'jamf', command: `Jamf Pro policy: Packages > ${pkgName} (Install)` },
          { channel: 'uninstall', command: `sudo sh ${unName}` },
        ],
      },
      {
        path: r.uninstallScript,
        target: 'pkg',
        description: `Uninstall script for ${r.identifier} (pkg receipts do not uninstall); --purge also removes config and identity`,
        installCommands: [{ channel: 'uninstall', command: `sudo sh ${unName}` }],
      },
    ];
  },
};
