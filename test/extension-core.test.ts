// The extension's process-running logic against the real bundled CLIs (no editor): the test server it starts,
// the test agent's register / backup / restore-and-verify, and generate through the deployer's generateFleets.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TestAgent, testAgentConfig } from '../extension/src/core/agent-run.js';
import { describeFleetFile, type FleetEntry } from '../extension/src/core/fleets.js';
import { GenerateError } from '../deployer/generate.js';
import { listTargets, runGenerate } from '../extension/src/core/generate.js';
import { readGenerateResult } from '../extension/src/core/manifest.js';
import { choosePorts } from '../extension/src/core/ports.js';
import { TestServer } from '../extension/src/core/test-server.js';
import { compareTrees } from '../extension/src/core/verify.js';
import { agentBin, repoRoot, serverBin } from './helpers/paths.js';

type Valid = Extract<FleetEntry, { kind: 'valid' }>;
let dir: string;
let demo: Valid;
const servers: TestServer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hf-ext-core-'));
  const entry = await describeFleetFile(join(repoRoot, 'examples', 'fleets', 'demo.fleet.json'), join(dir, 'out'), {});
  if (entry.kind !== 'valid') throw new Error('the demo fleet must be valid');
  demo = entry;
});
afterAll(async () => {
  for (const s of servers) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test server and test agent', () => {
  it('starts the server on free ports, backs up, restores byte-identically and stops', async () => {
    const lines: string[] = [];
    const server = new TestServer({ serverBin, workDir: join(dir, 'srv'), onLine: (l) => lines.push(l) });
    servers.push(server);
    const ports = await choosePorts([0, 0]);
    const st = await server.start({ ports, technicianIds: ['DEMO-TECH-0001'] });
    expect(st.status).toBe('running');
    expect(st.addresses).toEqual([`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]);
    expect(server.pin).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    // The Technician ID sits only in the server's own config file, readable by its owner alone.
    const configMode = (await import('node:fs')).statSync(join(dir, 'srv', 'server.json')).mode & 0o777;
    expect(configMode).toBe(0o600);
    expect(lines.join('\n')).not.toContain('DEMO-TECH-0001');

    const endpoint = { addresses: st.addresses!, pin: server.pin! };
    const agentLines: string[] = [];
    const agent = new TestAgent({ agentBin, workDir: join(dir, 'agent'), onLine: (l) => agentLines.push(l) });
    const source = await agent.prepare(demo, endpoint);
    const config = JSON.parse(await readFile(agent.configFile, 'utf8'));
    // The fleet's pair (127.0.0.1:16384/16385) is replaced by the ports actually bound.
    expect(config.registration).toEqual({ primary: st.addresses![0], alternate: st.addresses![1] });
    expect(config.tlsPin).toBe(server.pin);

    const first = await agent.ensureRegistered(endpoint);
    expect(first.fresh).toBe(true);
    expect(first.device).toMatch(/\S/);
    expect(await agent.ensureRegistered(endpoint)).toEqual({ device: first.device, fresh: false });

    const backup = await agent.backup();
    expect(backup.files).toBe(4);
    expect(backup.snapshot).toMatch(/\S/);
    const { target, diff } = await agent.restoreAndVerify(source);
    expect(diff).toMatchObject({ files: 4, problems: [] });
    expect(diff.bytes).toBeGreaterThan(256 * 1024);

    // Verification is real: change one restored byte and it is reported.
    const restored = join(target, 'sample', 'Documents', 'readme.txt');
    await writeFile(restored, 'tampered\n');
    expect((await compareTrees(source, join(target, 'sample'))).problems).toEqual(['differs: Documents/readme.txt']);

    // A file the agent cannot read (mode 000, the agent run as root without the capabilities that let root read it):
    // the agent exits 3 (snapshot stored, completed with warnings); the sidebar's agent gets a result with the
    // skipped path and its reason, not a failure.
    const locked = join(source, 'Documents', 'locked.db');
    await writeFile(locked, 'locked');
    await chmod(locked, 0o000);
    const shim = join(dir, 'unprivileged-agent.mjs');
    const noDac = ['--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-dac_override,-dac_read_search'];
    await writeFile(
      shim,
      `import { spawnSync } from 'node:child_process';\n` +
        `const r = spawnSync('setpriv', ${JSON.stringify(noDac)}.concat([process.execPath, ${JSON.stringify(agentBin)}], process.argv.slice(2)), { stdio: 'inherit' });\n` +
        `process.exit(r.status ?? 1);\n`,
    );
    const unprivileged = new TestAgent({ agentBin: shim, workDir: join(dir, 'agent') });
    const warned = await unprivileged.backup();
    expect(warned.snapshot).toMatch(/\S/);
    expect(warned.skipped).toEqual([{ path: locked, reason: 'permission denied' }]);
    expect(warned.warnings).toEqual([expect.stringMatching(/locked\.db: EACCES/)]);

    await server.refreshStats();
    expect(server.state.devices).toBe(1);
    expect(server.state.storedBytes).toBeGreaterThan(200 * 1024);

    const pid = server.state.pid!;
    await server.stop();
    expect(server.state.status).toBe('stopped');
    expect(alive(pid)).toBe(false);
  });

  it('reports a server that cannot start with its reason', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const busy = (blocker.address() as { port: number }).port;
    const server = new TestServer({ serverBin, workDir: join(dir, 'srv-busy') });
    servers.push(server);
    await expect(server.start({ ports: [busy, 0], technicianIds: ['DEMO-TECH-0001'] })).rejects.toThrow(/exited .* before listening: .*(EADDRINUSE|in use)/i);
    expect(server.state.status).toBe('failed');
    blocker.close();
  });

  it('reuses the last ports when free and picks others when taken', async () => {
    const first = await choosePorts([0, 0]);
    expect(first[0]).not.toBe(first[1]);
    expect(await choosePorts([0, 0], first)).toEqual(first);
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(first[0], '127.0.0.1', () => r()));
    const again = await choosePorts([0, 0], first);
    expect(again[0]).not.toBe(first[0]);
    expect(again[1]).toBe(first[1]);
    blocker.close();
    expect(await choosePorts([16384, 0], first)).toEqual([16384, first[1]]);
  });

  it('points the agent config at the test server without a proxy and keeps the fleet policy', async () => {
    const config = await testAgentConfig(demo, { addresses: ['127.0.0.1:1', '127.0.0.1:2'], pin: 'AA' }, '/w', '/src');
    expect(config).toMatchObject({
      fleet: 'demo',
      technicianId: 'DEMO-TECH-0001',
      registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
      proxy: { type: 'none' },
      stateDir: '/w/state',
    });
    expect(config.backup.include).toEqual(['/src']);
    expect(config.backup.exclude).toEqual(demo.fleet.backup.exclude);
  });
});

describe('generate through the deployer library', () => {
  it('lists the deployer targets with their own support checks', async () => {
    const targets = await listTargets();
    expect(targets.map((t) => t.name)).toEqual(expect.arrayContaining(['msi', 'pkg', 'intune', 'gpo', 'firewall', 'guide']));
    expect(targets.find((t) => t.name === 'firewall')).toMatchObject({ support: { ok: true } });
    expect(targets.find((t) => t.name === 'intune')?.dependsOn).toContain('msi');
  });

  it('generates firewall sheets and reads them back from the manifest', async () => {
    const lines: string[] = [];
    const outDir = join(dir, 'gen');
    const result = await runGenerate({ fleetFiles: [demo.file], outDir, targets: ['firewall'], onLine: (l) => lines.push(l) });
    expect(lines).toContain('[demo] firewall: start');
    expect(result.fleets.map((f) => f.manifestPath)).toEqual([join(outDir, 'demo', 'manifest.json')]);
    const gen = await readGenerateResult(outDir, 'demo');
    expect(gen?.artifacts.length).toBeGreaterThan(3);
    expect(gen?.artifacts.every((a) => a.target === 'firewall' && a.path.startsWith(join(outDir, 'demo', 'firewall')))).toBe(true);
    expect(gen?.generatedAt?.getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('surfaces the deployer error for an unknown target', async () => {
    const err = await runGenerate({ fleetFiles: [demo.file], outDir: join(dir, 'gen2'), targets: ['floppy'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerateError);
    expect((err as GenerateError).message).toMatch(/unknown target "floppy"; known targets: msi/);
  });

  it('a cancelled generate stops with a cancel error and writes no manifest', async () => {
    const cancel = new AbortController();
    const outDir = join(dir, 'gen3');
    const run = runGenerate({
      fleetFiles: [demo.file],
      outDir,
      targets: ['firewall', 'guide'],
      signal: cancel.signal,
      onLine: (l) => l === '[demo] firewall: start' && cancel.abort(),
    });
    await expect(run).rejects.toThrow(/\[demo\] generate cancelled (during|before) target (firewall|guide)/);
    await expect(readFile(join(outDir, 'demo', 'manifest.json'))).rejects.toThrow(/ENOENT/);
  });
});
