// Restores that belong to their users (issue 14, point 8), through the real CLI and a real server: the service
// restores as root into users' folders, so files, folders and symlinks come back with the owner and group they had
// (--owner original, the default as root), or the restoring user's (--owner me); hard links come back as links and
// sparse files with their holes. Tests run as root (they chown to uids that need no account).
import { beforeAll, describe, expect, it } from 'vitest';
import {
  chownSync,
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { tempDir, useTestServer } from './helpers/server.js';
import { LocalStore } from '../agent/engine/local-store.js';
import { deriveKeys, parseDeviceKeyFile } from '../agent/engine/keys.js';
import { sealSnapshot } from '../agent/engine/codec.js';
import { FULL_FORMAT, loadSnapshot, newSnapshotId } from '../agent/engine/snapshot.js';

const server = useTestServer();
let agent: TestAgent;
let work: string;
let src: string;
const SPARSE_SIZE = 100 * 1024 * 1024;

/** Every entry below `dir` (relative path → uid:gid), symlinks not followed. */
function owners(dir: string, rel: string[]): Record<string, string> {
  return Object.fromEntries(rel.map((r) => [r, ((st) => `${st.uid}:${st.gid}`)(lstatSync(join(dir, r)))]));
}

const ENTRIES = ['.', 'ann', 'ann/letter.txt', 'ann/run.sh', 'ann/latest', 'bob', 'bob/notes.txt', 'shared.txt'];

beforeAll(async () => {
  expect(process.getuid?.(), 'these tests chown files: run them as root').toBe(0);
  work = await tempDir('holdfast-owners-');
  src = join(work, 'Users');
  mkdirSync(join(src, 'ann'), { recursive: true });
  mkdirSync(join(src, 'bob'));
  writeFileSync(join(src, 'ann', 'letter.txt'), 'dear bob\n');
  writeFileSync(join(src, 'ann', 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  symlinkSync('letter.txt', join(src, 'ann', 'latest'));
  writeFileSync(join(src, 'bob', 'notes.txt'), 'hello ann\n');
  writeFileSync(join(src, 'shared.txt'), 'for all\n');
  chownSync(src, 0, 0);
  chownSync(join(src, 'ann'), 1501, 2501);
  chownSync(join(src, 'ann', 'letter.txt'), 1501, 2501);
  chownSync(join(src, 'ann', 'run.sh'), 1501, 2502);
  lchownSync(join(src, 'ann', 'latest'), 1501, 2501);
  chownSync(join(src, 'bob'), 1502, 2502);
  chownSync(join(src, 'bob', 'notes.txt'), 1502, 2502);
  chownSync(join(src, 'shared.txt'), 1503, 2501);

  // Hard links: one file under three names (two folders); a second pair.
  mkdirSync(join(src, 'links', 'a'), { recursive: true });
  mkdirSync(join(src, 'links', 'b'));
  writeFileSync(join(src, 'links', 'a', 'one'), 'the same file\n');
  linkSync(join(src, 'links', 'a', 'one'), join(src, 'links', 'b', 'one-again'));
  linkSync(join(src, 'links', 'a', 'one'), join(src, 'links', 'a', 'third'));
  writeFileSync(join(src, 'links', 'pair-1'), 'another file\n');
  linkSync(join(src, 'links', 'pair-1'), join(src, 'links', 'pair-2'));
  writeFileSync(join(src, 'links', 'alone'), 'another file\n'); // same content, not a link

  // A sparse 100 MiB file: a few bytes at three places, holes between.
  const fd = openSync(join(src, 'sparse.img'), 'w');
  for (const at of [0, 37 * 1024 * 1024 + 5, SPARSE_SIZE - 10]) writeSync(fd, Buffer.from('0123456789'), 0, 10, at);
  closeSync(fd);
  expect(statSync(join(src, 'sparse.img')).blocks * 512).toBeLessThan(1024 * 1024);

  agent = await makeAgent({ server, config: { backup: manualBackup([src]) } });
  const r = await agent.run(['register']);
  expect(r.code, r.output).toBe(0);
  const b = await agent.run(['backup']);
  expect(b.code, b.output).toBe(0);
}, 120_000);

describe('restores that belong to their users', () => {
  it('as root, files, folders and symlinks get back their owner and group (--owner original, and by default)', async () => {
    for (const [name, args] of [
      ['original', ['--owner', 'original']],
      ['default', []],
    ] as const) {
      const out = join(work, `out-${name}`);
      const r = await agent.run(['restore', '--to', out, ...args]);
      expect(r.code, r.output).toBe(0);
      expect(owners(join(out, 'Users'), ENTRIES)).toEqual(owners(src, ENTRIES));
      expect(lstatSync(join(out, 'Users', 'ann', 'run.sh')).mode & 0o7777).toBe(0o755);
    }
  });

  it('--owner me gives every restored entry to the restoring user', async () => {
    const out = join(work, 'out-me');
    const r = await agent.run(['restore', '--to', out, '--owner', 'me']);
    expect(r.code, r.output).toBe(0);
    const me = `${process.getuid?.()}:${process.getgid?.()}`;
    expect(owners(join(out, 'Users'), ENTRIES)).toEqual(Object.fromEntries(ENTRIES.map((e) => [e, me])));
  });

  it('--owner with another value is refused, naming the allowed ones', async () => {
    const r = await agent.run(['restore', '--to', join(work, 'out-bad'), '--owner', 'root']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--owner.*root.*original, me/s);
  });

  it('a chown alone (same content and time) reaches the next snapshot', async () => {
    chownSync(join(src, 'bob', 'notes.txt'), 1504, 2504);
    const b = await agent.run(['backup', '--json']);
    expect(b.code, b.output).toBe(0);
    const out = join(work, 'out-chown');
    const r = await agent.run(['restore', '--to', out, '--path', 'Users/bob']);
    expect(r.code, r.output).toBe(0);
    expect(owners(join(out, 'Users'), ['bob/notes.txt'])).toEqual({ 'bob/notes.txt': '1504:2504' });
  });

  it('hard links come back as links: one inode per file, whatever folder its names are in', async () => {
    const out = join(work, 'out-links');
    const r = await agent.run(['restore', '--to', out, '--path', 'Users/links']);
    expect(r.code, r.output).toBe(0);
    const at = (p: string) => lstatSync(join(out, 'Users', 'links', p));
    expect(at('b/one-again').ino).toBe(at('a/one').ino);
    expect(at('a/third').ino).toBe(at('a/one').ino);
    expect(at('a/one').nlink).toBe(3);
    expect(at('pair-2').ino).toBe(at('pair-1').ino);
    expect(at('pair-1').ino).not.toBe(at('a/one').ino);
    expect(at('alone').ino).not.toBe(at('pair-1').ino);
    expect(at('alone').nlink).toBe(1);
    expect(readFileSync(join(out, 'Users', 'links', 'b', 'one-again'), 'utf8')).toBe('the same file\n');
  });

  it('a sparse 100 MiB file comes back sparse, byte-identical', async () => {
    const out = join(work, 'out-sparse');
    const r = await agent.run(['restore', '--to', out, '--path', 'Users/sparse.img']);
    expect(r.code, r.output).toBe(0);
    const file = join(out, 'Users', 'sparse.img');
    const st = statSync(file);
    expect(st.size).toBe(SPARSE_SIZE);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
    expect(readFileSync(file).equals(readFileSync(join(src, 'sparse.img')))).toBe(true);
  });

  it('snapshots from before owners (v 3 full, v 4 delta) and from Windows restore to the restoring user', async () => {
    const dir = join(work, 'old', 'Old');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.txt'), 'alpha\n');
    chownSync(join(dir, 'a.txt'), 1601, 2601);
    const a = await makeAgent({
      registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
      tlsPin: Array(32).fill('AB').join(':'),
      config: { backup: manualBackup([dir]) },
    });
    const st = join(work, 'old-store');
    expect((await a.run(['backup', '--store', st])).code).toBe(0);
    const keys = deriveKeys(parseDeviceKeyFile(readFileSync(join(a.stateDir, 'device.key'), 'utf8'), 'device.key'));
    const local = LocalStore.open(st);
    const now = await loadSnapshot(local, keys, 'latest');
    expect(now.v).toBe(FULL_FORMAT);
    expect(now.entries.find((e) => e[0] === 'Old/a.txt')?.slice(6, 8)).toEqual([1601, 2601]);
    const t3 = new Date('2026-01-02T03:04:05Z');
    const v3 = { ...now, v: 3, id: newSnapshotId(t3), time: t3.toISOString(), entries: now.entries.map((e) => e.slice(0, 6)) };
    const t4 = new Date('2026-01-03T03:04:05Z');
    const v4 = { ...v3, v: 4, id: newSnapshotId(t4), time: t4.toISOString(), base: v3.id, depth: 1, entries: [[0, v3.entries.length]] };
    // A Windows snapshot's uid/gid are not owners (lstat reports zeros there): never applied, whatever they hold.
    const t5 = new Date('2026-01-04T03:04:05Z');
    const win = { ...now, id: newSnapshotId(t5), time: t5.toISOString(), platform: 'win32', entries: now.entries.map((e) => [...e.slice(0, 6), 1700, 1700]) };
    for (const snap of [v3, v4, win]) await local.putSnapshot(snap.id, snap.time, sealSnapshot(keys, snap.id, Buffer.from(JSON.stringify(snap))));
    await local.close();
    for (const snap of [v3, v4, win]) {
      const out = join(work, `out-v${snap.v}-${snap.platform}`);
      const r = await a.run(['restore', '--store', st, '--snapshot', snap.id, '--to', out, '--owner', 'original']);
      expect(r.code, r.output).toBe(0);
      expect(readFileSync(join(out, 'Old', 'a.txt'), 'utf8')).toBe('alpha\n');
      expect(owners(join(out, 'Old'), ['a.txt'])).toEqual({ 'a.txt': `${process.getuid?.()}:${process.getgid?.()}` });
    }
  });
});
