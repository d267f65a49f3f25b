// Crash safety of the test server with real processes: kill -9 in the middle of a backup, restart,
// resume without re-sending stored chunks; torn index tails; tampered and missing chunks on restore.
import { beforeAll, describe, expect, it } from 'vitest';
import { appendFile, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { diffTrees, makeSampleTree } from './helpers/sample.js';
import { storedChunkIds, tempDir, useTestServer, waitForStoredChunks, type TestServer } from './helpers/server.js';

const server = useTestServer();
let agent: TestAgent;
let sample: string;
let deviceId: string;

beforeAll(async () => {
  sample = join(await tempDir('holdfast-sample-'), 'docs');
  await makeSampleTree(sample, 100, 1024 * 1024);
  agent = await makeAgent({ server, config: { backup: manualBackup([sample]) } });
  deviceId = await agent.register();
});

function sessionEnds(s: TestServer): Array<{ received: number; stored: number; duplicate: number }> {
  return [...s.output().matchAll(new RegExp(`session end ${deviceId}: received (\\d+) chunks \\((\\d+) new, (\\d+) duplicate`, 'g'))].map((m) => ({
    received: Number(m[1]),
    stored: Number(m[2]),
    duplicate: Number(m[3]),
  }));
}

describe('server crash safety', () => {
  it('kill -9 mid-backup: acknowledged chunks survive, the rerun resumes without re-sending them, restore is byte-identical', async () => {
    const backup = agent.spawn(['backup']);
    const atKill = await waitForStoredChunks(server.dataDir, deviceId, 1);
    await server.kill9();
    const first = await backup.exited;
    expect(first.code, backup.output()).not.toBe(0);
    expect(backup.stderr()).toMatch(/cannot reach any backup server/);
    const status = await agent.status();
    expect(status.lastError).toMatch(/cannot reach any backup server/);
    expect(status.lastSuccessfulBackup).toBeNull();

    const before = await storedChunkIds(server.dataDir, deviceId);
    expect(before.length).toBeGreaterThanOrEqual(atKill);

    await server.restart();
    const rerun = await agent.run(['backup']);
    expect(rerun.code, rerun.output).toBe(0);
    await server.waitForOutput(`session end ${deviceId}`);
    const after = await storedChunkIds(server.dataDir, deviceId);
    expect(new Set(after).size).toBe(after.length); // nothing stored twice
    const sent = sessionEnds(server).reduce((n, s) => n + s.received, 0);
    expect(sessionEnds(server).every((s) => s.duplicate === 0)).toBe(true); // no stored chunk was sent again
    expect(sent).toBe(after.length - before.length);
    expect(before.length).toBeGreaterThan(0);

    const out = await tempDir('holdfast-restore-');
    const restore = await agent.run(['restore', '--to', out]);
    expect(restore.code, restore.output).toBe(0);
    expect(await diffTrees(sample, join(out, 'docs'))).toEqual([]);
  });

  it('a torn index line left by a crash is ignored and does not swallow later commits', async () => {
    await server.stop();
    const index = join(server.dataDir, 'devices', deviceId, 'index.log');
    const count = (await storedChunkIds(server.dataDir, deviceId)).length;
    await appendFile(index, 'deadbeefdeadbeef 123-torn.pack 0'); // no newline: a write cut short
    await server.restart();
    await writeFile(join(sample, 'dir0', 'new-after-crash.txt'), 'fresh content '.repeat(1000));
    const r = await agent.run(['backup']);
    expect(r.code, r.output).toBe(0);
    const ids = await storedChunkIds(server.dataDir, deviceId);
    expect(ids.length).toBe(count + 1);
    expect(ids).not.toContain('deadbeefdeadbeef');
    const out = await tempDir('holdfast-restore-');
    expect((await agent.run(['restore', '--to', out])).code).toBe(0);
    expect(await diffTrees(sample, join(out, 'docs'))).toEqual([]);
  });

  it('a tampered chunk on the server makes restore fail with a named error and a non-zero exit', async () => {
    // A byte inside a committed chunk: the kill -9 above can leave bytes in a pack that no index line names,
    // and flipping one of those would damage nothing.
    const device = join(server.dataDir, 'devices', deviceId);
    const line = (await readFile(join(device, 'index.log'), 'latin1'))
      .split('\n')
      .map((l) => /^[0-9a-f]{64} (\S+\.pack) (\d+) (\d+)$/.exec(l))
      .find((m) => m !== null)!;
    const file = join(device, 'packs', line[1]);
    const at = Number(line[2]) + Math.floor(Number(line[3]) / 2);
    const fh = await open(file, 'r+');
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, at);
    byte[0] ^= 0xff;
    await fh.write(byte, 0, 1, at);
    await fh.close();
    const out = await tempDir('holdfast-restore-');
    const r = await agent.run(['restore', '--to', out]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/chunk [0-9a-f]{16,}/);
    expect(r.stderr).toMatch(/tamper|authentic|GCM|does not match/i);
    // Undo, so later tests start clean.
    const fix = await open(file, 'r+');
    byte[0] ^= 0xff;
    await fix.write(byte, 0, 1, at);
    await fix.close();
  });

  it('a chunk missing from the server makes restore fail naming the chunk', async () => {
    await server.stop();
    const index = join(server.dataDir, 'devices', deviceId, 'index.log');
    const text = await readFile(index, 'latin1');
    const lines = text.split('\n').filter(Boolean);
    const victim = lines.find((l) => /^[0-9a-f]{64} /.test(l))!;
    await writeFile(index, `${lines.filter((l) => l !== victim).join('\n')}\n`);
    await server.restart();
    const out = await tempDir('holdfast-restore-');
    const r = await agent.run(['restore', '--to', out]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(victim.split(' ')[0]);
    expect(r.stderr).toMatch(/missing/);
  });
});
