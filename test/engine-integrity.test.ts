// Restore never writes a wrong file: tampered and missing chunks are named errors with a non-zero exit, and
// snapshot names that try to leave the target ("..", absolute, symlink tricks) are refused.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { tempDir } from './helpers/server.js';
import { LocalStore } from '../agent/engine/local-store.js';
import { deriveKeys, parseDeviceKeyFile } from '../agent/engine/keys.js';
import { ChunkAuthError, openChunk } from '../agent/engine/codec.js';
import { splitIds } from '../agent/engine/change-cache.js';
import { loadSnapshot, newSnapshotId, storeSnapshot, type Snapshot, type SnapshotEntry } from '../agent/engine/snapshot.js';

const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');

let work: string;
let src: string;
let agent: TestAgent;

/** A fresh store holding one backup of `src`. */
async function freshStore(name: string): Promise<string> {
  const store = join(work, name);
  const r = await agent.run(['backup', '--store', store, '--json']);
  expect(r.code, r.output).toBe(0);
  return store;
}

/** Packs of a local store, largest first. */
function packs(store: string): string[] {
  return readdirSync(join(store, 'packs'))
    .filter((n) => n.endsWith('.pack'))
    .map((n) => join(store, 'packs', n))
    .sort((a, b) => statSync(b).size - statSync(a).size);
}

beforeAll(async () => {
  work = await tempDir('holdfast-integrity-');
  src = join(work, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  writeFileSync(join(src, 'big.bin'), randomBytes(3 * 1024 * 1024));
  writeFileSync(join(src, 'sub', 'small.txt'), 'small file\n');
  agent = await makeAgent({
    registration: NO_SERVER,
    tlsPin: PIN,
    config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
  });
});

describe('restore integrity', () => {
  it('a tampered chunk: named error (file and chunk), non-zero exit, no file written, other files restored', async () => {
    const store = await freshStore('store-tamper');
    const pack = packs(store)[0];
    const bytes = readFileSync(pack);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    writeFileSync(pack, bytes);
    const out = join(work, 'out-tamper');
    const r = await agent.run(['restore', '--store', store, '--to', out]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(join(out, 'src', 'big.bin'));
    expect(r.stderr).toMatch(/chunk [0-9a-f]{64} failed authentication \(GCM tag mismatch\)/);
    expect(existsSync(join(out, 'src', 'big.bin'))).toBe(false);
    // No temporary leftovers either.
    expect(readdirSync(join(out, 'src')).sort()).toEqual(['sub']);
    expect(readFileSync(join(out, 'src', 'sub', 'small.txt'), 'utf8')).toBe('small file\n');
  });

  it('a tampered chunk never replaces the good file already in place (heal in place)', async () => {
    const store = await freshStore('store-tamper-inplace');
    const pack = packs(store)[0];
    const bytes = readFileSync(pack);
    bytes[10] ^= 0x80;
    writeFileSync(pack, bytes);
    const before = readFileSync(join(src, 'big.bin'));
    const r = await agent.run(['restore', '--store', store, '--original']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('failed authentication');
    expect(readFileSync(join(src, 'big.bin')).equals(before)).toBe(true);
    expect(readdirSync(src).sort()).toEqual(['big.bin', 'sub']);
  });

  it('a missing chunk: named error and non-zero exit', async () => {
    const store = await freshStore('store-missing');
    const pack = packs(store)[0];
    rmSync(pack);
    const out = join(work, 'out-missing');
    const r = await agent.run(['restore', '--store', store, '--to', out]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/big\.bin: chunk [0-9a-f]{64} is missing/);
    expect(existsSync(join(out, 'src', 'big.bin'))).toBe(false);
  });

  it('stored chunks follow the documented format: codec.ts opens them; a chunk under another id fails', async () => {
    const store = await freshStore('store-format');
    const keys = deriveKeys(parseDeviceKeyFile(readFileSync(join(agent.stateDir, 'device.key'), 'utf8'), 'device.key'));
    const local = LocalStore.open(store);
    const snap = await loadSnapshot(local, keys, 'latest');
    const ids = splitIds(snap.entries.find((e) => e[0] === 'src/big.bin')![5] as string);
    expect(ids.length).toBeGreaterThan(1);
    const sealed = (await local.get(ids)).chunks();
    const plain = Buffer.concat(sealed.map((c) => openChunk(keys, c.id, c.data)));
    expect(plain.equals(readFileSync(join(src, 'big.bin')))).toBe(true);
    for (const c of sealed) expect(c.data[0]).toBe(1); // format version
    // The id is bound as additional data: a chunk presented under another id does not open.
    expect(() => openChunk(keys, sealed[1].id, sealed[0].data)).toThrow(ChunkAuthError);
    expect(() => openChunk(deriveKeys(randomBytes(32)), sealed[0].id, sealed[0].data)).toThrow(/GCM tag mismatch/);
  });

  describe('names that leave the target', () => {
    let store: string;
    let keys: ReturnType<typeof deriveKeys>;
    let base: Snapshot;
    let smallIds: string;

    beforeAll(async () => {
      store = await freshStore('store-escape');
      keys = deriveKeys(parseDeviceKeyFile(readFileSync(join(agent.stateDir, 'device.key'), 'utf8'), 'device.key'));
      base = await loadSnapshot(LocalStore.open(store), keys, 'latest');
      smallIds = base.entries.find((e) => e[0] === 'src/sub/small.txt')![5] as string;
    });

    /**
     * Store a crafted snapshot (sealed with the device key, as a malicious or buggy writer could) and restore it.
     * Format 1 (times in ms), which every agent version reads.
     */
    async function restoreCrafted(entries: SnapshotEntry[], out: string) {
      const now = new Date();
      const snap = { ...base, v: 1, id: newSnapshotId(now), time: now.toISOString(), entries: [['src', 'd', 0o755, Date.now(), 0, null], ...entries] };
      await storeSnapshot(LocalStore.open(store), keys, snap as unknown as Snapshot);
      return agent.run(['restore', '--store', store, '--snapshot', snap.id, '--to', out]);
    }

    it('refuses ".." names on their own: nothing written outside, the other entries restored, exit non-zero', async () => {
      const out = join(work, 'esc-dots', 'target');
      const r = await restoreCrafted(
        [
          ['src/ok.txt', 'f', 0o644, Date.now(), 11, smallIds],
          ['src/../../evil.txt', 'f', 0o644, Date.now(), 11, smallIds],
          ['src/sub/../../../evil-dir', 'd', 0o755, Date.now(), 0, null],
          ['src/..', 'l', 0o777, Date.now(), 0, '/etc'],
          ['src/after.txt', 'f', 0o644, Date.now(), 11, smallIds],
        ],
        out,
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('refusing to restore "src/../../evil.txt"');
      expect(r.stderr).toContain('refusing to restore "src/sub/../../../evil-dir"');
      expect(existsSync(join(work, 'esc-dots', 'evil.txt'))).toBe(false);
      expect(existsSync(join(work, 'evil.txt'))).toBe(false);
      expect(existsSync(join(work, 'evil-dir'))).toBe(false);
      // One bad entry never makes the others unrestorable.
      expect(readFileSync(join(out, 'src', 'ok.txt'), 'utf8')).toBe('small file\n');
      expect(readFileSync(join(out, 'src', 'after.txt'), 'utf8')).toBe('small file\n');
    });

    it('refuses absolute names', async () => {
      const victim = join(work, 'abs-victim.txt');
      const r = await restoreCrafted([[victim, 'f', 0o644, Date.now(), 11, smallIds]], join(work, 'esc-abs'));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('absolute path');
      expect(existsSync(victim)).toBe(false);
    });

    it('never writes through a symlink the snapshot itself creates', async () => {
      const outside = join(work, 'outside-1');
      mkdirSync(outside);
      const out = join(work, 'esc-link1');
      const r = await restoreCrafted(
        [
          ['src/link', 'l', 0o777, Date.now(), 0, outside],
          ['src/link/pwned.txt', 'f', 0o644, Date.now(), 11, smallIds],
        ],
        out,
      );
      expect(r.code).not.toBe(0);
      expect(readdirSync(outside)).toEqual([]);
    });

    it('never writes through a symlink already in the target', async () => {
      const outside = join(work, 'outside-2');
      mkdirSync(outside);
      const out = join(work, 'esc-link2');
      mkdirSync(join(out, 'src'), { recursive: true });
      symlinkSync(outside, join(out, 'src', 'sub'));
      const r = await restoreCrafted(
        [
          ['src/sub', 'd', 0o755, Date.now(), 0, null],
          ['src/sub/small.txt', 'f', 0o644, Date.now(), 11, smallIds],
        ],
        out,
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('a symlink is in the way');
      expect(readdirSync(outside)).toEqual([]);
    });

    it('a symlink planted at a file position is replaced, not followed', async () => {
      const victim = join(work, 'victim.txt');
      writeFileSync(victim, 'precious');
      const out = join(work, 'esc-link3');
      mkdirSync(join(out, 'src'), { recursive: true });
      symlinkSync(victim, join(out, 'src', 'file.txt'));
      const r = await restoreCrafted([['src/file.txt', 'f', 0o644, Date.now(), 11, smallIds]], out);
      expect(r.code, r.output).toBe(0);
      expect(readFileSync(victim, 'utf8')).toBe('precious');
      expect(readFileSync(join(out, 'src', 'file.txt'), 'utf8')).toBe('small file\n');
    });
  });
});
