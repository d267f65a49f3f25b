// On the Mac the agent's secrets live in agent.json (Technician ID, proxy password) and in state/ (identity secret,
// device credential, device key). The pkg's postinstall writes agent.json 0600 root, also over a looser copy an
// earlier install or an admin left; the real agent then registers and backs up against the test server with that
// config, and everything it writes under state/ is owner-only (folders 0700, files 0600). POSIX modes, so this runs
// on Linux with the same scripts and agent the pkg ships.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet, resolveSecrets } from '../fleet/load.js';
import { buildMacPkg } from '../installers/mac/pkg.js';
import { CONFIG_FILE } from '../installers/mac/layout.js';
import { agentBin, repoRoot } from './helpers/paths.js';
import { tool } from './helpers/pkg-readers.js';
import { runProcess } from './helpers/process.js';
import { startTestServer, TEST_TECHNICIAN_ID, type TestServer } from './helpers/server.js';

const work = mkdtempSync(join(tmpdir(), 'hf-pkg-secrets-'));
const scripts = join(work, 'scripts');
const volume = join(work, 'Macintosh HD');
const config = join(volume, CONFIG_FILE);
const uid = process.getuid?.() ?? -1;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  const sample = join(work, 'Users', 'alice', 'Documents');
  mkdirSync(sample, { recursive: true });
  writeFileSync(join(sample, 'report.txt'), 'quarterly numbers\n');
  const demo = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
  delete demo.$schema;
  const fleet = parseFleet(
    JSON.stringify({
      ...demo,
      fleet: 'macsecrets',
      technicianId: TEST_TECHNICIAN_ID,
      registration: { primary: server.addresses[0], alternate: server.addresses[1] },
      tlsPin: server.pin,
      backup: { ...demo.backup, include: [sample], schedule: { frequency: 'manual', at: '02:00' } },
    }),
  );
  // The scripts and config are what this suite needs; stand-ins for the runtimes and agent keep the build fast.
  for (const f of ['node-x64', 'node-arm64', 'agent.mjs']) writeFileSync(join(work, f), `#!/bin/sh\necho ${f}\n`);
  const r = await buildMacPkg({
    loaded: { file: join(work, 'macsecrets.fleet.json'), dir: work, fleet },
    secrets: resolveSecrets(fleet),
    outDir: join(work, 'out'),
    cacheDir: join(work, 'cache'),
    agentBundle: join(work, 'agent.mjs'),
    runtimes: { x86_64: join(work, 'node-x64'), arm64: join(work, 'node-arm64') },
  });
  const x = join(work, 'x');
  mkdirSync(x);
  spawnSync(tool('bsdtar'), ['-xf', r.pkg, '-C', x]);
  mkdirSync(scripts);
  const cpio = spawnSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -i -d -m -H odc --quiet`, 'sh', join(x, 'agent.pkg/Scripts')], { cwd: scripts });
  expect(cpio.status, String(cpio.stderr)).toBe(0);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

const postinstall = () => {
  const r = spawnSync('sh', [join(scripts, 'postinstall'), join(work, 'fake.pkg'), '/', volume], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
};

/** Every path under `dir` with its permission bits and owner. */
function walk(dir: string): Array<{ path: string; dir: boolean; mode: number; uid: number }> {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = statSync(path);
    const entry = { path, dir: st.isDirectory(), mode: st.mode & 0o777, uid: st.uid };
    return st.isDirectory() ? [entry, ...walk(path)] : [entry];
  });
}

describe('macOS pkg: agent.json and state stay owner-only', () => {
  it('postinstall writes agent.json 0600 (root-owned when run as root), replacing a looser copy', () => {
    mkdirSync(join(config, '..'), { recursive: true });
    writeFileSync(config, '{"left":"by an earlier install"}\n');
    chmodSync(config, 0o644);
    postinstall();
    const st = statSync(config);
    expect(st.mode & 0o777).toBe(0o600);
    if (uid === 0) expect([st.uid, st.gid]).toEqual([0, 0]);
    expect(JSON.parse(readFileSync(config, 'utf8')).technicianId).toBe(TEST_TECHNICIAN_ID);
  });

  it('the agent registers and backs up with that config; everything under state/ is owner-only', async () => {
    for (const args of [['register', '--json'], ['backup']]) {
      const r = await runProcess(process.execPath, [agentBin, ...args, '--config', config], { cwd: work, timeoutMs: 120_000 });
      expect(r.code, r.output).toBe(0);
      expect(r.output).not.toContain(TEST_TECHNICIAN_ID);
    }
    const state = join(config, '..', 'state');
    const entries = [{ path: state, dir: true, mode: statSync(state).mode & 0o777, uid: statSync(state).uid }, ...walk(state)];
    expect(entries.map((e) => e.path)).toEqual(expect.arrayContaining(['identity.json', 'registration.json', 'device.key'].map((f) => join(state, f))));
    for (const e of entries) {
      expect([e.path, e.mode & 0o077]).toEqual([e.path, 0]);
      expect([e.path, e.uid]).toEqual([e.path, uid]);
      if (e.dir) expect([e.path, e.mode]).toEqual([e.path, 0o700]);
    }
    // An upgrade runs postinstall again: agent.json stays 0600, the state is left as it is.
    postinstall();
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(statSync(state).mode & 0o777).toBe(0o700);
  }, 240_000);
});
