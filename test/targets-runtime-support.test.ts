// The targets that ship Node runtimes (msi, pkg, jamf-profiles) say in isSupported() when a runtime is neither
// overridden nor cached and the npm registry does not answer, instead of failing later in `npm pack`. A registry
// double on 127.0.0.1 stands in for a reachable one; a closed port for an unreachable one.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_PACKAGES, runtimesSupport } from '../installers/runtimes.js';
import { listenContractServer, sendJson, type ContractHttpServer } from './helpers/contract-http.js';
import { deployBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { closedPort } from './helpers/proxies.js';
import { tempDir } from './helpers/server.js';

const mac = ['darwin-x64', 'darwin-arm64'] as const;
let unreachable: string;
let registry: ContractHttpServer;
let pings = 0;

/** The environment without runtime overrides, with npm asking `registryUrl`. */
function envWith(registryUrl: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_registry: registryUrl, ...extra };
  for (const name of Object.keys(env)) if (name.startsWith('HOLDFAST_RUNTIME_') && !(name in extra)) delete env[name];
  return env;
}

beforeAll(async () => {
  unreachable = `http://127.0.0.1:${await closedPort()}/`;
  registry = await listenContractServer(
    (req, res) => {
      if (req.url?.startsWith('/-/ping')) {
        pings++;
        sendJson(res, 200, {});
      } else sendJson(res, 404, { error: 'not found' });
    },
    (res, err) => sendJson(res, 500, { error: err.message }),
  );
});
afterAll(async () => {
  await registry?.close();
});

describe('runtimesSupport', () => {
  it('not cached, not overridden, registry unreachable: names the runtimes, the cache, the registry and both ways out', async () => {
    const cache = await tempDir('holdfast-rt-empty-');
    const s = await runtimesSupport([...mac], cache, envWith(unreachable));
    expect(s.ok).toBe(false);
    if (s.ok) return;
    expect(s.missing).toBe(
      `the Node runtimes ${RUNTIME_PACKAGES['darwin-x64'].spec}, ${RUNTIME_PACKAGES['darwin-arm64'].spec}: not in the cache ${join(cache, 'runtimes')}, ` +
        `and the npm registry ${unreachable} did not answer (npm ping: ECONNREFUSED)`,
    );
    expect(s.install).toContain('a reachable npm registry (`npm ping` answers');
    expect(s.install).toContain('HOLDFAST_RUNTIME_DARWIN_X64 and HOLDFAST_RUNTIME_DARWIN_ARM64 set to node binaries');
  });

  it('not cached but the registry answers: supported', async () => {
    const before = pings;
    expect(await runtimesSupport([...mac], await tempDir('holdfast-rt-empty-'), envWith(`${registry.url}/`))).toEqual({ ok: true });
    expect(pings).toBe(before + 1);
  });

  it('cached: supported without asking the registry', async () => {
    const cache = await tempDir('holdfast-rt-cached-');
    for (const p of mac) {
      const { spec, binary } = RUNTIME_PACKAGES[p];
      const bin = join(cache, 'runtimes', spec.replace('@', '-'), binary);
      await mkdir(join(bin, '..'), { recursive: true });
      await writeFile(bin, '');
    }
    expect(await runtimesSupport([...mac], cache, envWith(unreachable))).toEqual({ ok: true });
  });

  it('overridden with existing files: supported without asking the registry; an override naming no file is named', async () => {
    const empty = await tempDir('holdfast-rt-empty-');
    const overrides = { HOLDFAST_RUNTIME_DARWIN_X64: process.execPath, HOLDFAST_RUNTIME_DARWIN_ARM64: process.execPath };
    expect(await runtimesSupport([...mac], empty, envWith(unreachable, overrides))).toEqual({ ok: true });
    const gone = join(empty, 'no-such-node');
    expect(await runtimesSupport([...mac], empty, envWith(unreachable, { ...overrides, HOLDFAST_RUNTIME_DARWIN_ARM64: gone }))).toEqual({
      ok: false,
      missing: `HOLDFAST_RUNTIME_DARWIN_ARM64 points at ${gone}, which does not exist`,
      install: 'point HOLDFAST_RUNTIME_DARWIN_ARM64 at a node binary, or unset it',
    });
  });
});

describe('generate with the runtimes out of reach', () => {
  it('msi, pkg and jamf-profiles are refused before anything is built, each naming its runtimes', async () => {
    const cache = await tempDir('holdfast-rt-cli-');
    const out = join(cache, 'out');
    const r = await runProcess(
      process.execPath,
      [deployBin, 'generate', 'examples/fleets/demo.fleet.json', '--out', out, '--cache', cache, '--target', 'msi,pkg,jamf-profiles'],
      { cwd: repoRoot, env: envWith(unreachable, { HOLDFAST_CACHE_DIR: cache }) },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`target msi needs the Node runtime ${RUNTIME_PACKAGES['win-x64'].spec}: not in the cache`);
    for (const target of ['pkg', 'jamf-profiles']) {
      expect(r.stderr).toContain(`target ${target} needs the Node runtimes ${RUNTIME_PACKAGES['darwin-x64'].spec}, ${RUNTIME_PACKAGES['darwin-arm64'].spec}`);
    }
    expect(r.stderr).toContain('install it with: a reachable npm registry');
    expect(r.stderr).not.toMatch(/\[demo\] \S+: start/);
    await expect(readFile(join(out, 'demo', 'manifest.json'))).rejects.toThrow(/ENOENT/);
  });
});
