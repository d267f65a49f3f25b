// The engine against a real holdfast-server process on 127.0.0.1: register, back up, restore byte-identical,
// a rerun sends nothing, the server holds only ciphertext, and a chunk tampered on the server is caught.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { tempDir, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';
import { allFileBytes, makeCorpus, plaintextMarker, snapshotTree } from './helpers/engine-corpus.js';

const server = useTestServer();
let agent: TestAgent;
let work: string;
let src: string;
let marker: string;

beforeAll(async () => {
  work = await tempDir('holdfast-engine-srv-');
  src = join(work, 'Documents');
  marker = plaintextMarker();
  makeCorpus(src, marker);
  agent = await makeAgent({ server, config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } } });
  const r = await agent.run(['register']);
  expect(r.code, r.output).toBe(0);
});

describe('backup engine with the test server', () => {
  it('backs up with progress, restores byte-identical; status records the backup', async () => {
    const b = await agent.run(['backup']);
    expect(b.code, b.output).toBe(0);
    expect(b.stderr).toMatch(/Backing up: 6\/6 files/);
    expect(b.stdout).toMatch(/Backup complete: snapshot \S+\n\s+6 files/);
    const out = join(work, 'restored');
    const r = await agent.run(['restore', '--snapshot', 'latest', '--to', out]);
    expect(r.code, r.output).toBe(0);
    expect(snapshotTree(join(out, 'Documents'))).toEqual(snapshotTree(src));
    const status = await agent.status();
    expect(status.lastSuccessfulBackup).toEqual(expect.any(String));
    expect(status.lastError).toBeNull();
  });

  it('a rerun reads nothing and uploads nothing; snapshots lists both', async () => {
    const b = await agent.run(['backup', '--json']);
    expect(b.code, b.output).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ filesRead: 0, chunksUploaded: 0, bytesUploaded: 0 });
    const list = JSON.parse((await agent.run(['snapshots', '--json'])).stdout);
    expect(list).toHaveLength(2);
  });

  it('the server holds only ciphertext: no plaintext marker, no device key, no Technician ID in its data', async () => {
    const keyHex = readFileSync(join(agent.stateDir, 'device.key'), 'utf8').split(' ')[1].trim();
    const blobs = allFileBytes(server.dataDir);
    expect(blobs.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(6 * 1024 * 1024);
    for (const b of blobs) {
      expect(b.includes(Buffer.from(marker))).toBe(false);
      expect(b.includes(Buffer.from('the quick brown fox'))).toBe(false);
      expect(b.includes(Buffer.from(keyHex))).toBe(false);
      expect(b.includes(Buffer.from(keyHex, 'hex'))).toBe(false);
      expect(b.includes(Buffer.from(TEST_TECHNICIAN_ID))).toBe(false);
    }
    expect(server.output()).not.toContain(keyHex);
  });

  it('a chunk altered on the server fails restore with a named error; nothing wrong is written', async () => {
    const reg = JSON.parse(readFileSync(join(agent.stateDir, 'registration.json'), 'utf8'));
    const devDir = join(server.dataDir, 'devices', reg.deviceId);
    expect(existsSync(join(devDir, 'index.log'))).toBe(true);
    // The largest stored chunk is a piece of media/big.bin: flip one byte of it in its pack.
    const lines = readFileSync(join(devDir, 'index.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    const [id, pack, offset, length] = lines.sort((a, b) => Number(b[3]) - Number(a[3]))[0];
    const packPath = readdirSync(join(devDir, 'packs')).includes(pack) ? join(devDir, 'packs', pack) : join(devDir, pack);
    const bytes = readFileSync(packPath);
    bytes[Number(offset) + Math.floor(Number(length) / 2)] ^= 0x40;
    writeFileSync(packPath, bytes);
    const out = join(work, 'restored-tampered');
    const r = await agent.run(['restore', '--to', out]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`chunk ${id} failed authentication`);
    expect(r.stderr).toContain(join(out, 'Documents', 'media', 'big.bin'));
    expect(existsSync(join(out, 'Documents', 'media', 'big.bin'))).toBe(false);
    expect(readFileSync(join(out, 'Documents', 'docs', 'notes.txt')).equals(readFileSync(join(src, 'docs', 'notes.txt')))).toBe(true);
  });
});
