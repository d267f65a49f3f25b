// Product archive assembly: one component package (Bom, Payload, Scripts, PackageInfo) plus Distribution,
// in a xar, in the member order productbuild writes. See docs/pkg.md.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { agentConfigFromFleet } from '../../fleet/agent-config.js';
import type { FleetSecrets, LoadedFleet } from '../../fleet/types.js';
import { nodeRuntime } from '../runtimes.js';
import { writeBom } from './bom.js';
import type { CpioEntry } from './cpio.js';
import { launchDaemonPlist } from './launchd.js';
import {
  AGENT_BUNDLE,
  COMPONENT,
  CONFIG_FILE,
  LAUNCHER,
  LOG_FILE,
  PRODUCT_DIR,
  STDERR_LOG_FILE,
  archivePath,
  daemonPlist,
  runtimeBinary,
  type MacArch,
} from './layout.js';
import { sharedPayload, smallArchiveGz, writePayload } from './payload.js';
import { findUp, render } from './templates.js';
import { loadInstallerIdentity, xarSigner } from './pkg-signature.js';
import { writeXar, type XarSigner } from './xar.js';

export const MIN_MACOS = '11.0';
export const DEFAULT_GZIP_LEVEL = 6;

export interface MacPkgOptions {
  loaded: LoadedFleet;
  secrets: FleetSecrets;
  outDir: string;
  cacheDir: string;
  progress?: (message: string) => void;
  /** The agent bundle (default: dist/holdfast-agent.mjs, or HOLDFAST_AGENT_BUNDLE). */
  agentBundle?: string;
  /** Node binaries per CPU (default: installers/runtimes.ts, which honours HOLDFAST_RUNTIME_DARWIN_X64/_ARM64). */
  runtimes?: Partial<Record<MacArch, string>>;
  /** gzip level of the shared payload (1-9). 6 balances build time against size. */
  gzipLevel?: number;
}

export interface MacPkgResult {
  pkg: string;
  uninstallScript: string;
  identifier: string;
  version: string;
  numberOfFiles: number;
  installKBytes: number;
  /** The shared payload came from the cache (no recompression). */
  payloadCached: boolean;
  /** Subject of the Developer ID Installer certificate the pkg is signed with; undefined when unsigned. */
  signedBy?: string;
}

export const pkgFileName = (fleet: string) => `holdfast-${fleet}.pkg`;
export const uninstallFileName = (fleet: string) => `holdfast-${fleet}-uninstall.sh`;

export function defaultAgentBundle(): string {
  const override = process.env.HOLDFAST_AGENT_BUNDLE;
  if (override) {
    if (!existsSync(override)) throw new Error(`HOLDFAST_AGENT_BUNDLE points at ${override}, which does not exist`);
    return override;
  }
  const found = findUp(join('dist', 'holdfast-agent.mjs'));
  if (!found) throw new Error('dist/holdfast-agent.mjs not found: run `npm run build` first (or set HOLDFAST_AGENT_BUNDLE)');
  return found;
}

const rel = (abs: string) => abs.replace(/^\//, '');

/** The signer of the fleet's Developer ID Installer identity (signing.macos.installer), if it names one. */
async function installerSigner(loaded: LoadedFleet, secrets: FleetSecrets): Promise<{ signer: XarSigner; subject: string } | undefined> {
  const id = loaded.fleet.signing?.macos?.installer;
  if (!id) return undefined;
  const at = (rel?: string) => (rel === undefined ? undefined : resolve(loaded.dir, rel));
  const identity = await loadInstallerIdentity({ certificate: at(id.certificate), key: at(id.key), pkcs12: at(id.pkcs12) }, secrets.installerSigningPassword);
  return { signer: xarSigner(identity), subject: new X509Certificate(identity.chain[0]).subject.replaceAll('\n', ', ') };
}

/** Builds dist/<fleet>/holdfast-<fleet>.pkg and its uninstall script. */
export async function buildMacPkg(opts: MacPkgOptions): Promise<MacPkgResult> {
  const progress = opts.progress ?? (() => {});
  const { fleet } = opts.loaded;
  const level = opts.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new Error(`gzipLevel ${level} is not allowed: use 1 (fastest) to 9 (smallest)`);
  const identifier = fleet.branding.bundleId;
  const label = identifier;
  const agentBundle = opts.agentBundle ?? defaultAgentBundle();
  const runtimes: Record<MacArch, string> = {
    x86_64: opts.runtimes?.x86_64 ?? (await nodeRuntime('darwin-x64')),
    arm64: opts.runtimes?.arm64 ?? (await nodeRuntime('darwin-arm64')),
  };
  const launcher = Buffer.from(await render('launcher.sh.hbs', {}));
  // Read before the long payload work, so a wrong password or a mismatched key fails at once.
  const signer = await installerSigner(opts.loaded, opts.secrets);

  const dir = (path: string, mode = 0o755): CpioEntry => ({ path: archivePath(path), kind: 'dir', mode, mtime: 0 });
  const file = (path: string, mode: number, data: CpioEntry['data']): CpioEntry => ({ path: archivePath(path), kind: 'file', mode, mtime: 0, data });
  const shared: CpioEntry[] = [
    dir('/'),
    dir('/Library'),
    dir('/Library/Application Support'),
    dir(PRODUCT_DIR),
    dir(`${PRODUCT_DIR}/bin`),
    file(LAUNCHER, 0o755, launcher),
    dir(`${PRODUCT_DIR}/lib`),
    file(AGENT_BUNDLE, 0o644, { file: agentBundle }),
    dir(`${PRODUCT_DIR}/runtime`),
    dir(`${PRODUCT_DIR}/runtime/arm64`),
    file(runtimeBinary('arm64'), 0o755, { file: runtimes.arm64 }),
    dir(`${PRODUCT_DIR}/runtime/x86_64`),
    file(runtimeBinary('x86_64'), 0o755, { file: runtimes.x86_64 }),
  ];
  const head = await sharedPayload(opts.cacheDir, shared, level, progress);

  const now = Math.floor(Date.now() / 1000);
  const tail: CpioEntry[] = [
    { ...dir('/Library/LaunchDaemons'), mtime: now },
    { ...file(daemonPlist(label), 0o644, Buffer.from(launchDaemonPlist(label))), mtime: now },
  ];

  await mkdir(opts.outDir, { recursive: true });
  const work = await mkdtemp(join(opts.outDir, '.pkg-build-'));
  try {
    progress(`pkg: assembling ${pkgFileName(fleet.fleet)}${head.cached ? ' (shared payload from cache)' : ''}`);
    const payloadFile = join(work, 'Payload');
    const bomEntries = await writePayload(payloadFile, head, tail);
    const bom = writeBom(bomEntries);
    const totalBytes = bomEntries.reduce((s, e) => s + e.size, 0);
    const installKBytes = Math.ceil(totalBytes / 1024);

    const config = await agentConfigFromFleet(opts.loaded, opts.secrets);
    const scriptData = {
      label,
      product: fleet.branding.product,
      productDirRel: rel(PRODUCT_DIR),
      configRel: rel(CONFIG_FILE),
      plistRel: rel(daemonPlist(label)),
    };
    const scripts = await smallArchiveGz([
      { path: '.', kind: 'dir', mode: 0o755, mtime: now },
      { path: './agent.json', kind: 'file', mode: 0o600, mtime: now, data: Buffer.from(`${JSON.stringify(config, null, 2)}\n`) },
      { path: './postinstall', kind: 'file', mode: 0o755, mtime: now, data: Buffer.from(await render('postinstall.sh.hbs', scriptData)) },
      { path: './preinstall', kind: 'file', mode: 0o755, mtime: now, data: Buffer.from(await render('preinstall.sh.hbs', scriptData)) },
    ]);
    const packageInfo = await render('PackageInfo.xml.hbs', { identifier, version: fleet.version, numberOfFiles: bomEntries.length, installKBytes });
    const distribution = await render('Distribution.xml.hbs', {
      title: fleet.branding.product,
      identifier,
      version: fleet.version,
      installKBytes,
      minOs: MIN_MACOS,
      component: COMPONENT,
    });

    const pkg = join(opts.outDir, pkgFileName(fleet.fleet));
    const partial = join(work, 'product.pkg');
    await writeXar(
      partial,
      [
        { path: `${COMPONENT}/Bom`, data: bom, compress: true },
        { path: `${COMPONENT}/Payload`, data: { file: payloadFile } },
        { path: `${COMPONENT}/Scripts`, data: scripts },
        { path: `${COMPONENT}/PackageInfo`, data: Buffer.from(packageInfo), compress: true },
        { path: 'Distribution', data: Buffer.from(distribution), compress: true },
      ],
      { signer: signer?.signer },
    );
    await rename(partial, pkg); // atomic: a reader never sees a half-written pkg

    const uninstallScript = join(opts.outDir, uninstallFileName(fleet.fleet));
    await writeFile(
      uninstallScript,
      await render('uninstall.sh.hbs', {
        label,
        identifier,
        product: fleet.branding.product,
        scriptName: uninstallFileName(fleet.fleet),
        keepIdentity: fleet.identity.keepOnUninstall,
        productDir: PRODUCT_DIR,
        plist: daemonPlist(label),
        logFile: LOG_FILE,
        stderrLogFile: STDERR_LOG_FILE,
      }),
    );
    await chmod(uninstallScript, 0o755);
    progress(`pkg: wrote ${pkg} (${((await stat(pkg)).size / 1048576).toFixed(1)} MB)`);
    return {
      pkg,
      uninstallScript,
      identifier,
      version: fleet.version,
      numberOfFiles: bomEntries.length,
      installKBytes,
      payloadCached: head.cached,
      signedBy: signer?.subject,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
