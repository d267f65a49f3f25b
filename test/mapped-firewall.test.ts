// Mapped proxy firewall, end to end with real processes: the fleet's server addresses (registration pair, the pair the
// server assigns, and a pair pushed later with `holdfast-server reassign`) are addresses nothing listens on, as the
// servers behind a mapped firewall are to an agent; each has its own port on a real forwarder (socat on 127.0.0.3).
// The agent, configured from the fleet, registers, backs up, follows the pushed pair and restores through the
// forwarder only: the server log shows every connection arriving from the forwarders' source addresses.
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fleetDialAddresses } from '../fleet/addresses.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { loadFleet, resolveSecrets } from '../fleet/load.js';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { deployBin, repoRoot } from './helpers/paths.js';
import { startProcess, type TestProcess } from './helpers/process.js';
import { diffTrees, makeSampleTree } from './helpers/sample.js';
import { runServerCli, TEST_TECHNICIAN_ID, tempDir, useTestServer } from './helpers/server.js';

// Server addresses as the fleet and the server know them; nothing listens there.
const SERVER = {
  reg1: '127.0.0.21:16384',
  reg2: '127.0.0.22:16384',
  assigned1: '127.0.0.23:16384',
  assigned2: '127.0.0.24:16384',
  pushed1: '127.0.0.25:16384',
  pushed2: '127.0.0.26:16384',
} as const;
type Name = keyof typeof SERVER;
// Each forwarder connects on from its own source address, so the server log tells which one a connection took.
const SOURCE: Record<Name, string> = {
  reg1: '127.0.0.31',
  reg2: '127.0.0.32',
  assigned1: '127.0.0.33',
  assigned2: '127.0.0.34',
  pushed1: '127.0.0.35',
  pushed2: '127.0.0.36',
};

const server = useTestServer({ listen: ['127.0.0.1:0', '127.0.0.1:0'], assign: { primary: SERVER.assigned1, alternate: SERVER.assigned2 } });
const firewall = {} as Record<Name, string>;
const forwarders: TestProcess[] = [];
let agent: TestAgent;
let sample: string;
let fleetFile: string;

function requireSocat(): void {
  if (spawnSync('sh', ['-c', 'command -v socat']).status !== 0) throw new Error('socat is missing: install it with `apt-get install -y socat`');
}

/** A real forwarder: one firewall port on 127.0.0.3 -> one real server listener. */
async function forward(name: Name, to: string): Promise<string> {
  const p = startProcess('socat', ['-d', '-d', 'TCP-LISTEN:0,bind=127.0.0.3,reuseaddr,fork', `TCP:${to},bind=${SOURCE[name]}`]);
  forwarders.push(p);
  const out = await p.waitForOutput(/listening on AF=2 127\.0\.0\.3:\d+/, 10_000);
  return `127.0.0.3:${/listening on AF=2 127\.0\.0\.3:(\d+)/.exec(out)![1]}`;
}

/** Whether anything accepts a connection at an address (the servers' own addresses must not). */
function reachable(endpoint: string): Promise<boolean> {
  const [host, port] = endpoint.split(':');
  return new Promise((done) => {
    const c = connect({ host, port: Number(port) });
    c.once('connect', () => {
      c.destroy();
      done(true);
    });
    c.once('error', () => done(false));
  });
}

/** The peer address of every server log line about a registration or a session. */
function serverPeers(): string[] {
  return [...server.output().matchAll(/ (\S+?):\d+: (?:registered new device|re-registered existing device|session start)/g)].map((m) => m[1]);
}

/** Waits for the server's log line of a connection that came from `source` (a forwarder). */
function fromForwarder(source: string, what: string): Promise<string> {
  return server.waitForOutput(new RegExp(` ${source.replace(/\./g, '\\.')}:\\d+: ${what}`), 30_000);
}

beforeAll(async () => {
  requireSocat();
  const [s1, s2] = server.addresses;
  const real: Record<Name, string> = { reg1: s1, reg2: s2, assigned1: s1, assigned2: s2, pushed1: s2, pushed2: s1 };
  for (const name of Object.keys(SERVER) as Name[]) firewall[name] = await forward(name, real[name]);
  const dir = await tempDir('holdfast-mapped-');
  fleetFile = join(dir, 'mapped.fleet.json');
  const doc = JSON.parse(await readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(doc, {
    fleet: 'mapped',
    technicianId: TEST_TECHNICIAN_ID,
    tlsPin: server.pin,
    registration: { primary: SERVER.reg1, alternate: SERVER.reg2 },
    addressMap: Object.fromEntries((Object.keys(SERVER) as Name[]).map((n) => [SERVER[n], firewall[n]])),
  });
  delete doc.$schema;
  await writeFile(fleetFile, JSON.stringify(doc, null, 2));
  sample = join(await tempDir('holdfast-sample-'), 'work');
  await makeSampleTree(sample, 6, 64 * 1024);
  const loaded = await loadFleet(fleetFile);
  const config = await agentConfigFromFleet(loaded, resolveSecrets(loaded.fleet));
  agent = await makeAgent({ registration: config.registration, tlsPin: config.tlsPin, config: { ...config, backup: manualBackup([sample]) } });
}, 60_000);

describe('mapped proxy firewall through a real forwarder', () => {
  it('the fleet validates without warnings, its agent.json carries the map, and the servers own addresses answer nothing', async () => {
    const v = spawnSync(process.execPath, [deployBin, 'validate', fleetFile], { encoding: 'utf8' });
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).not.toContain('warning');
    expect(agent.config.addressMap?.[SERVER.reg1]).toBe(firewall.reg1);
    for (const address of Object.values(SERVER)) expect(await reachable(address), address).toBe(false);
    // What the firewall sheets must permit: the firewall addresses, not the servers'.
    expect(fleetDialAddresses((await loadFleet(fleetFile)).fleet).map((a) => `${a.host}:${a.port}`)).toEqual(expect.arrayContaining(Object.values(firewall)));
  });

  it('validate names the bad entry of a map: a host name as key, a bad port, two servers on one firewall port; warns about a key off the port', async () => {
    const doc = JSON.parse(await readFile(fleetFile, 'utf8'));
    const check = async (map: Record<string, string>) => {
      doc.addressMap = map;
      const file = join(await tempDir('holdfast-badmap-'), 'bad.fleet.json');
      await writeFile(file, JSON.stringify(doc));
      return spawnSync(process.execPath, [deployBin, 'validate', file], { encoding: 'utf8' });
    };
    const bad = await check({ 'backup.example:16384': '127.0.0.3:20001', '127.0.0.21:16384': '127.0.0.3:99999' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('/addressMap/backup.example:16384: the key "backup.example:16384" is not allowed: "backup.example" is not an IP address');
    expect(bad.stdout).toContain('/addressMap/127.0.0.21:16384: "127.0.0.3:99999" is not allowed: port must be 1-65535');
    const dup = await check({ '127.0.0.21:16384': '127.0.0.3:20001', '127.0.0.22:16384': '127.0.0.3:20001' });
    expect(dup.status).toBe(1);
    expect(dup.stdout).toContain('/addressMap/127.0.0.22:16384: "127.0.0.3:20001" is also the firewall address of 127.0.0.21:16384');
    const off = await check({ '127.0.0.21:16384': '127.0.0.3:20001', '127.0.0.27:16390': '127.0.0.3:20002' });
    expect(off.status, off.stdout).toBe(0);
    expect(off.stdout).toContain('warning: /addressMap/127.0.0.27:16390: "127.0.0.27:16390" uses port 16390');
  });

  it('registers through the forwarder of the registration pair and backs up through the forwarder of the assigned pair', async () => {
    const deviceId = await agent.register();
    await fromForwarder(SOURCE.reg1, `registered new device ${deviceId}`);
    const r = await agent.run(['backup']);
    expect(r.code, r.output).toBe(0);
    await fromForwarder(SOURCE.assigned1, `session start ${deviceId}`);
    expect(forwarders[2].output()).toMatch(/accepting connection from/);
  }, 120_000);

  it('a pair pushed later with holdfast-server reassign is translated too: the next session goes through its forwarder', async () => {
    const { deviceId } = (await agent.status()) as { deviceId: string };
    const re = await runServerCli(['reassign', '--data', server.dataDir, '--device', deviceId, '--primary', SERVER.pushed1, '--alternate', SERVER.pushed2]);
    expect(re.code, re.output).toBe(0);
    const learn = await agent.run(['backup']);
    expect(learn.code, learn.output).toBe(0);
    expect(learn.stderr).toContain(`server assigned a new backup-server pair: primary ${SERVER.pushed1}, alternate ${SERVER.pushed2}`);
    const next = await agent.run(['backup']);
    expect(next.code, next.output).toBe(0);
    await fromForwarder(SOURCE.pushed1, `session start ${deviceId}`);
    const to = join(await tempDir('holdfast-restore-'), 'out');
    const restore = await agent.run(['restore', '--to', to]);
    expect(restore.code, restore.output).toBe(0);
    expect(await diffTrees(sample, join(to, 'work'))).toEqual([]);
    // Every connection the server saw came from a forwarder, none straight from the agent.
    const peers = serverPeers();
    expect(peers.length).toBeGreaterThanOrEqual(4);
    for (const p of peers) expect(Object.values(SOURCE), p).toContain(p);
  }, 180_000);
});
