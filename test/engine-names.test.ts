// File names and times as the file system has them, through the real agent CLI on a local store: every name a
// macOS or Linux user can have round-trips byte for byte (backslashes, 255-byte names, bytes that are not UTF-8,
// control characters...), exclusion patterns see names as they are, names never reach a terminal raw,
// modification times come back to the microsecond, and snapshots and change caches written before all this still
// work.
import { beforeAll, describe, expect, it } from 'vitest';
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { tempDir } from './helpers/server.js';
import { snapshotTree } from './helpers/engine-corpus.js';
import { hostileFileNames, makeHostileTree, randomNanosecondTimes } from './helpers/hostile-names.js';
import { LocalStore } from '../agent/engine/local-store.js';
import { deriveKeys, parseDeviceKeyFile } from '../agent/engine/keys.js';
import { openSnapshot, sealSnapshot } from '../agent/engine/codec.js';
import { decodeName, encodeName } from '../agent/engine/names.js';
import { ChangeCache } from '../agent/engine/change-cache.js';
import { FULL_FORMAT, loadSnapshot, newSnapshotId } from '../agent/engine/snapshot.js';
import { escapeForTerminal } from '../common/terminal-text.js';

const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');

let work: string;

async function localAgent(include: string[], exclude: string[] = []): Promise<TestAgent> {
  return makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: { backup: { ...manualBackup(include), exclude } } });
}

async function backupJson(a: TestAgent, store: string): Promise<Record<string, unknown>> {
  const r = await a.run(['backup', '--store', store, '--json']);
  expect(r.code, r.output).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

async function restore(a: TestAgent, store: string, out: string, snapshot = 'latest') {
  return a.run(['restore', '--store', store, '--snapshot', snapshot, '--to', out]);
}

/**
 * Back up `dir` (…/<name>) with a new agent into a new store and restore it; returns the folder it came back as.
 * The backup must have no warning, the restore must exit 0.
 */
async function roundTrip(dir: string, exclude: string[] = []): Promise<{ restored: string; agent: TestAgent; store: string }> {
  const name = basename(dir);
  const agent = await localAgent([dir], exclude);
  const store = join(work, `store-${basename(dirname(dir))}`);
  expect((await backupJson(agent, store)).warnings).toEqual([]);
  const out = join(work, `out-${basename(dirname(dir))}`);
  const r = await restore(agent, store, out);
  expect(r.code, r.output).toBe(0);
  return { restored: join(out, name), agent, store };
}

function keysOf(a: TestAgent) {
  return deriveKeys(parseDeviceKeyFile(readFileSync(join(a.stateDir, 'device.key'), 'utf8'), 'device.key'));
}

beforeAll(async () => {
  work = await tempDir('holdfast-names-');
});

describe('the lossless name form', () => {
  it('any byte string survives decodeName/encodeName; UTF-8 names are their own string', () => {
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomBytes(1 + (i % 40));
      if (i % 2) for (let k = 0; k < bytes.length; k += 3) bytes[k] |= 0x80; // more multibyte-looking runs
      expect(encodeName(decodeName(bytes)).equals(bytes)).toBe(true);
    }
    for (const n of hostileFileNames) expect(encodeName(decodeName(n)).equals(n)).toBe(true);
    expect(decodeName(Buffer.from('ünï©ødé ✓ 😀'))).toBe('ünï©ødé ✓ 😀');
    expect(decodeName(Buffer.from([0x61, 0xff]))).toBe('a\udcff');
  });

  it('names reach a terminal with controls, separators, bidi controls and non-UTF-8 bytes escaped, and nothing else', () => {
    expect(escapeForTerminal('plain ünï©ødé 😀')).toBe('plain ünï©ødé 😀');
    expect(escapeForTerminal('a\nb\tc\rd\x1b[31m\x07\x7f\u009b\u202e\u2028\udcff\\')).toBe('a\\nb\\tc\\rd\\x1b[31m\\x07\\x7f\\x9b\\u{202e}\\u{2028}\\xff\\\\');
    expect(escapeForTerminal('C:\\Users\\ann', false)).toBe('C:\\Users\\ann');
  });
});

describe('names of every kind', () => {
  let src: string;
  let agent: TestAgent;
  const store = () => join(work, 'store-hostile');

  beforeAll(async () => {
    src = join(work, 'hostile', 'Home');
    makeHostileTree(src);
    agent = await localAgent([src]);
  });

  it('back up without a warning and restore byte for byte: names, contents, modes, mtimes, link targets', async () => {
    const first = await backupJson(agent, store());
    expect(first.warnings).toEqual([]);
    expect(first.files).toBe(hostileFileNames.length + 7); // and 7 inside the folders
    const out = join(work, 'out-hostile');
    const r = await restore(agent, store(), out);
    expect(r.code, r.output).toBe(0);
    const expected = snapshotTree(src);
    expect(Object.keys(expected).length).toBeGreaterThan(45);
    expect(snapshotTree(join(out, 'Home'))).toEqual(expected);
  });

  it('a rerun reads nothing (the change cache knows every name) and its delta restores the same tree', async () => {
    const again = await backupJson(agent, store());
    expect(again).toMatchObject({ filesRead: 0, chunksUploaded: 0, warnings: [] });
    const out = join(work, 'out-hostile-again');
    const r = await restore(agent, store(), out);
    expect(r.code, r.output).toBe(0);
    expect(snapshotTree(join(out, 'Home'))).toEqual(snapshotTree(src));
  });

  it('a failure naming such a file reaches the terminal escaped, never raw', async () => {
    const dir = join(work, 'evil-name', 'Evil');
    mkdirSync(dir, { recursive: true });
    const name = Buffer.from('evil\x1b]0;owned\x07\nforged: line \x1b[2J\u202e', 'utf8');
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), name]), randomBytes(100_000));
    const a = await localAgent([dir]);
    const st = join(work, 'store-evil');
    await backupJson(a, st);
    // Damage the one chunk: the restore fails and names the file.
    const packs = readdirSync(join(st, 'packs')).filter((n) => n.endsWith('.pack'));
    const pack = join(st, 'packs', packs.sort((x, y) => statSync(join(st, 'packs', y)).size - statSync(join(st, 'packs', x)).size)[0]);
    const fd = openSync(pack, 'r+');
    const one = Buffer.alloc(1);
    readSync(fd, one, 0, 1, 50_000);
    one[0] ^= 0x20;
    writeSync(fd, one, 0, 1, 50_000);
    closeSync(fd);
    const r = await restore(a, st, join(work, 'out-evil'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('evil\\x1b]0;owned\\x07\\nforged: line \\x1b[2J\\u{202e}: chunk');
    expect(r.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
    expect(r.stderr).not.toContain('\nforged');
    // check names the file that uses the damaged chunk the same way.
    const c = await a.run(['check', '--read-data', '--store', st]);
    expect(c.code, c.output).toBe(1);
    expect(c.stdout).toContain('evil\\x1b]0;owned\\x07\\nforged: line \\x1b[2J\\u{202e}');
    expect(c.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
    expect(c.stdout).not.toContain('\nforged');
  });
});

describe('the names issue 17 found unrestorable', () => {
  it('a backslash in a name is an ordinary character: such files and folders restore, and so does everything else', async () => {
    const dir = join(work, 'backslash', 'B');
    mkdirSync(join(dir, 'dir\\with\\backslashes'), { recursive: true });
    writeFileSync(join(dir, 'report\\2024.txt'), 'backslash in the name\n');
    writeFileSync(join(dir, 'dir\\with\\backslashes', 'inner.txt'), 'inside\n');
    writeFileSync(join(dir, 'plain.txt'), 'an ordinary file\n');
    const { restored, agent, store } = await roundTrip(dir);
    expect(snapshotTree(restored)).toEqual(snapshotTree(dir));
    // --path names such a file as it is, by its snapshot path or its original one.
    for (const [path, out] of [
      ['B/report\\2024.txt', join(work, 'out-backslash-one')],
      [join(dir, 'dir\\with\\backslashes'), join(work, 'out-backslash-dir')],
    ]) {
      const r = await agent.run(['restore', '--store', store, '--path', path, '--to', out]);
      expect(r.code, r.output).toBe(0);
    }
    expect(readdirSync(join(work, 'out-backslash-one', 'B'))).toEqual(['report\\2024.txt']);
    expect(readdirSync(join(work, 'out-backslash-dir', 'B'))).toEqual(['dir\\with\\backslashes']);
  });

  it('names of 255 bytes (the limit) restore: files, folders, symlinks, ASCII and multibyte', async () => {
    const dir = join(work, 'long', 'L');
    const longDir = join(dir, 'D'.repeat(255));
    mkdirSync(longDir, { recursive: true });
    writeFileSync(join(dir, 'f'.repeat(255)), 'ascii\n');
    writeFileSync(join(dir, `${'ü'.repeat(127)}x`), 'two-byte characters\n');
    writeFileSync(join(longDir, `${'日'.repeat(85)}`), 'three-byte characters\n');
    symlinkSync('f'.repeat(255), join(dir, 'l'.repeat(255)));
    const { restored } = await roundTrip(dir);
    expect(snapshotTree(restored)).toEqual(snapshotTree(dir));
    expect(readdirSync(join(restored, 'D'.repeat(255)))).toEqual(['日'.repeat(85)]);
  });
});

describe('exclusion patterns', () => {
  it('see names as they are: a non-UTF-8 byte is one character, a backslash is part of a name off Windows', async () => {
    const dir = join(work, 'patterns', 'P');
    mkdirSync(dir, { recursive: true });
    const files = [Buffer.from('drop-\xff.tmp', 'latin1'), Buffer.from('x\xe9y', 'latin1'), Buffer.from('keep-\xff', 'latin1'), Buffer.from('a\\b')];
    for (const f of files) writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), f]), 'x');
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'a', 'b'), 'inside a');
    const { restored } = await roundTrip(dir, ['**/*.tmp', '**/x?y', `${dir}/a/**`]);
    expect(Object.keys(snapshotTree(restored)).sort()).toEqual(['a\\b', 'keep-\\xff'].sort());
  });
});

describe('modification times', () => {
  it('500 files and 20 folders with random nanosecond mtimes come back exact to the microsecond', async () => {
    const dir = join(work, 'times', 'T');
    const paths: Buffer[] = [];
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(dir, `d${d}`), { recursive: true });
      for (let f = 0; f < 25; f++) {
        const p = join(dir, `d${d}`, `f${f}`);
        writeFileSync(p, `${d}/${f}`);
        paths.push(Buffer.from(p));
      }
    }
    for (let d = 0; d < 20; d++) paths.push(Buffer.from(join(dir, `d${d}`)));
    randomNanosecondTimes(paths, join(work, 'times.sh'));
    const { restored } = await roundTrip(dir);
    const off: string[] = [];
    for (const p of paths) {
      const want = lstatSync(p, { bigint: true }).mtimeNs / 1000n;
      const got = lstatSync(join(restored, p.toString().slice(dir.length)), { bigint: true }).mtimeNs;
      if (got !== want * 1000n) off.push(`${p}: ${got} ns, want ${want * 1000n}`);
    }
    expect(off, `${off.length} of ${paths.length} mtimes off`).toEqual([]);
  });
});

describe('formats from before', () => {
  it('snapshots v1 (full) and v2 (delta), with times in ms, still restore (times as whole microseconds)', async () => {
    const dir = join(work, 'old-format', 'Old');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.txt'), 'alpha\n');
    writeFileSync(join(dir, 'b.txt'), 'beta\n');
    const a = await localAgent([dir]);
    const st = join(work, 'store-old');
    await backupJson(a, st);
    const keys = keysOf(a);
    const local = LocalStore.open(st);
    const current = await loadSnapshot(local, keys, 'latest');
    const ids = (name: string) => current.entries.find((e) => e[0] === `Old/${name}`)![5];
    const t1 = new Date('2020-01-02T03:04:05Z');
    const v1 = {
      v: 1,
      id: newSnapshotId(t1),
      time: t1.toISOString(),
      host: 'old-agent',
      platform: 'linux',
      roots: current.roots,
      entries: [
        ['Old', 'd', 0o755, 1577934245000.5, 0, null],
        ['Old/a.txt', 'f', 0o640, 1577934245123.5, 6, ids('a.txt')],
      ],
    };
    const t2 = new Date('2020-01-03T03:04:05Z');
    const v2 = {
      v: 2,
      id: newSnapshotId(t2),
      time: t2.toISOString(),
      host: 'old-agent',
      platform: 'linux',
      roots: current.roots,
      base: v1.id,
      depth: 1,
      entries: [
        [0, 2],
        ['Old/b.txt', 'f', 0o600, 1578020645250.25, 5, ids('b.txt')],
      ],
    };
    for (const s of [v1, v2]) await local.putSnapshot(s.id, s.time, sealSnapshot(keys, s.id, Buffer.from(JSON.stringify(s))));
    const out = join(work, 'out-old');
    const r = await restore(a, st, out, v2.id);
    expect(r.code, r.output).toBe(0);
    const us = (p: string) => lstatSync(join(out, 'Old', p), { bigint: true }).mtimeNs / 1000n;
    expect(readFileSync(join(out, 'Old', 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(readFileSync(join(out, 'Old', 'b.txt'), 'utf8')).toBe('beta\n');
    expect([us('a.txt'), us('b.txt'), us('')]).toEqual([1577934245123500n, 1578020645250250n, 1577934245000500n]);
    expect((lstatSync(join(out, 'Old', 'a.txt')).mode & 0o777).toString(8)).toBe('640');
  });

  it.each([
    [2, 7],
    [3, 8],
    [4, 13],
  ])(
    'a change cache from before (format %i: before exact times / owners / extended attributes) still spares reading; the next snapshot is full with exact times',
    async (format, cols) => {
      const dir = join(work, `old-cache-${format}`, 'C');
      mkdirSync(join(dir, 'sub'), { recursive: true });
      for (let i = 0; i < 10; i++) writeFileSync(join(dir, i % 2 ? 'sub' : '', `f${i}`), randomBytes(10_000));
      const a = await localAgent([dir]);
      const st = join(work, `store-old-cache-${format}`);
      await backupJson(a, st);
      // Turn the cache into an older format, as an agent before it wrote it: the first `cols` of today's 14 columns.
      const cachePath = join(a.stateDir, 'change-cache.bin');
      const buf = readFileSync(cachePath);
      const headerLen = buf.readUInt32LE(8);
      const numAt = (12 + headerLen + 7) & ~7;
      const { count } = JSON.parse(buf.toString('utf8', 12, 12 + headerLen)) as { count: number };
      const num = new Float64Array(buf.buffer.slice(buf.byteOffset + numAt, buf.byteOffset + numAt + count * 14 * 8));
      const old = new Float64Array(count * cols);
      for (let i = 0; i < count; i++) old.set(num.subarray(i * 14, i * 14 + cols), i * cols);
      writeFileSync(
        cachePath,
        Buffer.concat([
          Buffer.from(`HFCC${String.fromCharCode(format)}\0\0\0`, 'latin1'),
          buf.subarray(8, numAt),
          Buffer.from(old.buffer),
          buf.subarray(numAt + count * 14 * 8),
        ]),
      );
      expect(ChangeCache.load(cachePath).legacy).toBe(true);

      const upgraded = await backupJson(a, st);
      expect(upgraded).toMatchObject({ filesRead: 0, chunksUploaded: 0 });
      const sealed = await LocalStore.open(st).getSnapshot(upgraded.snapshotId as string);
      const snap = JSON.parse(openSnapshot(keysOf(a), upgraded.snapshotId as string, sealed).toString('utf8'));
      expect(snap.v).toBe(FULL_FORMAT);
      const f0 = snap.entries.find((e: unknown[]) => e[0] === 'C/f0');
      expect(f0[3]).toBe(Number(lstatSync(join(dir, 'f0'), { bigint: true }).mtimeNs / 1000n));
      expect(readFileSync(cachePath)[4]).toBe(5);
      expect(ChangeCache.load(cachePath).legacy).toBe(false);
      expect(await backupJson(a, st)).toMatchObject({ filesRead: 0, chunksUploaded: 0 });
      const out = join(work, `out-old-cache-${format}`);
      expect((await restore(a, st, out)).code).toBe(0);
      expect(snapshotTree(join(out, 'C'))).toEqual(snapshotTree(dir));
    },
  );
});
