// Failover and address updates with real processes: a primary and an alternate server process share one
// data folder (as a replicated pair would); the agent is given the pair by the server and follows it.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { diffTrees, makeSampleTree } from './helpers/sample.js';
import { runServerCli, tempDir, useTestServer, waitForStoredChunks } from './helpers/server.js';

const primary = useTestServer({ listen: ['127.0.0.1:0'] });
const alternate = useTestServer(() => ({ dataDir: primary.dataDir, listen: ['127.0.0.1:0'] }));
let agent: TestAgent;
let sample: string;
let deviceId: string;

/** Push a new backup-server pair to the device with the server's admin command. */
const reassign = (newPrimary: string, newAlternate: string) =>
  runServerCli(['reassign', '--data', primary.dataDir, '--device', deviceId, '--primary', newPrimary, '--alternate', newAlternate]);

async function registration(): Promise<{ servers: { primary: string; alternate: string } }> {
  return JSON.parse(await readFile(join(agent.stateDir, 'registration.json'), 'utf8'));
}

beforeAll(async () => {
  sample = join(await tempDir('holdfast-sample-'), 'work');
  await makeSampleTree(sample, 8, 256 * 1024);
  agent = await makeAgent({
    registration: { primary: primary.addresses[0], alternate: alternate.addresses[0] },
    tlsPin: primary.pin,
    config: { backup: manualBackup([sample]) },
  });
  deviceId = await agent.register();
});

describe('failover and address updates', () => {
  it('the server pushes a reassigned pair; the agent persists it at its next session and reports it', async () => {
    // Registration via a single-address server assigned that address twice.
    expect((await registration()).servers).toEqual({ primary: primary.addresses[0], alternate: primary.addresses[0] });
    const re = await reassign(primary.addresses[0], alternate.addresses[0]);
    expect(re.code, re.output).toBe(0);
    const r = await agent.run(['backup']);
    expect(r.code, r.output).toBe(0);
    expect(r.stderr).toContain(`server assigned a new backup-server pair: primary ${primary.addresses[0]}, alternate ${alternate.addresses[0]}`);
    expect((await registration()).servers).toEqual({ primary: primary.addresses[0], alternate: alternate.addresses[0] });
    expect((await agent.status()).servers).toEqual({ primary: primary.addresses[0], alternate: alternate.addresses[0] });
  });

  it('the agent uses the pushed pair: swapped primary/alternate -> it connects to the new primary', async () => {
    const re = await reassign(alternate.addresses[0], primary.addresses[0]);
    expect(re.code, re.output).toBe(0);
    expect((await agent.run(['backup'])).code).toBe(0); // learns the swap (connected to the old primary)
    const sessionsOnAlternate = alternate.output().split(`session start ${deviceId}`).length;
    expect((await agent.run(['backup'])).code).toBe(0);
    expect(alternate.output().split(`session start ${deviceId}`).length).toBe(sessionsOnAlternate + 1);
    // Back to the original order for the next tests.
    await reassign(primary.addresses[0], alternate.addresses[0]);
    expect((await agent.run(['backup'])).code).toBe(0);
    expect((await registration()).servers.primary).toBe(primary.addresses[0]);
  });

  it('primary unreachable -> the backup goes to the alternate', async () => {
    await primary.stop();
    const before = alternate.output().split(`session start ${deviceId}`).length;
    await writeFile(join(sample, 'while-primary-down.txt'), 'written while the primary was down\n');
    const r = await agent.run(['backup']);
    expect(r.code, r.output).toBe(0);
    expect(alternate.output().split(`session start ${deviceId}`).length).toBeGreaterThan(before);
    await primary.restart();
  });

  it('primary dropping mid-backup -> the backup continues on the alternate without re-sending stored chunks; restore is byte-identical', async () => {
    await makeSampleTree(join(sample, 'big'), 80, 1024 * 1024);
    const already = (await readFile(join(primary.dataDir, 'devices', deviceId, 'index.log'), 'latin1')).split('\n').length - 1;
    const backup = agent.spawn(['backup']);
    await waitForStoredChunks(primary.dataDir, deviceId, already + 1);
    await primary.kill9();
    const { code } = await backup.exited;
    expect(code, backup.output()).toBe(0);
    expect(backup.stderr()).toMatch(new RegExp(`${primary.addresses[0].replace(/\./g, '\\.')}: connection lost`));
    expect(backup.stderr()).toContain(`switched to backup server ${alternate.addresses[0]}`);
    await alternate.waitForOutput(new RegExp(`session end ${deviceId}: received \\d+ chunks \\(\\d+ new, \\d+ duplicate`));
    const last = [...alternate.output().matchAll(new RegExp(`session end ${deviceId}: received (\\d+) chunks \\((\\d+) new, (\\d+) duplicate`, 'g'))].pop()!;
    expect(Number(last[1])).toBeGreaterThan(0);
    expect(Number(last[3])).toBe(0);

    const out = await tempDir('holdfast-restore-');
    const restore = await agent.run(['restore', '--to', out]);
    expect(restore.code, restore.output).toBe(0);
    expect(await diffTrees(sample, join(out, 'work'))).toEqual([]);
  });
});
