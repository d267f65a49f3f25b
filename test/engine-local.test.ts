// Backup engine through the real agent CLI on a local store folder: round trip, subpath, heal in place,
// dedupe, change cache, compression only where it pays, no plaintext in the store.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  copyFileSync,
  existsSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { tempDir } from './helpers/server.js';
import { allFileBytes, makeCorpus, plaintextMarker, snapshotTree } from './helpers/engine-corpus.js';

const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');

let work: string;
let src: string;
let store: string;
let agent: TestAgent;
let marker: string;

async function backupJson(a: TestAgent, storeDir: string, extra: string[] = []): Promise<Record<string, number | string>> {
  const r = await a.run(['backup', '--store', storeDir, '--json', ...extra]);
  expect(r.code, r.output).toBe(0);
  return JSON.parse(r.stdout) as Record<string, number | string>;
}

beforeAll(async () => {
  work = await tempDir('holdfast-engine-');
  src = join(work, 'src');
  store = join(work, 'store');
  marker = plaintextMarker();
  makeCorpus(src, marker);
  agent = await makeAgent({
    registration: NO_SERVER,
    tlsPin: PIN,
    config: { backup: { include: [src], exclude: ['**/*.tmp'], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
  });
});

describe('backup engine on a local store', () => {
  it('round trip is byte-identical with modes, mtimes, empty folders and symlinks; excluded files stay out', async () => {
    writeFileSync(join(src, 'scratch.tmp'), 'excluded');
    const first = await backupJson(agent, store);
    unlinkSync(join(src, 'scratch.tmp'));
    expect(first.files).toBe(6);
    const out = join(work, 'out-full');
    const r = await agent.run(['restore', '--store', store, '--snapshot', 'latest', '--to', out]);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/Restore complete: snapshot \S+, 6 files/);
    expect(existsSync(join(out, 'src', 'scratch.tmp'))).toBe(false);
    expect(snapshotTree(join(out, 'src'))).toEqual(snapshotTree(src));
    expect(statSync(join(out, 'src', 'docs', 'notes.txt')).mtimeMs).toBeCloseTo(Date.parse('2021-03-04T05:06:07.891Z'), -1);
  });

  it('the store holds no plaintext: a marker inside incompressible data is nowhere in it, nor the device key', async () => {
    const key = readFileSync(join(agent.stateDir, 'device.key'), 'utf8').split(' ')[1].trim();
    const blobs = allFileBytes(store);
    expect(blobs.length).toBeGreaterThan(2);
    for (const b of blobs) {
      expect(b.includes(Buffer.from(marker))).toBe(false);
      expect(b.includes(Buffer.from('the quick brown fox'))).toBe(false);
      expect(b.includes(Buffer.from(key))).toBe(false);
      expect(b.includes(Buffer.from(key, 'hex'))).toBe(false);
    }
    // The marker is really in the source, so the scan above could have found it.
    expect(readFileSync(join(src, 'docs', 'secret.bin')).includes(Buffer.from(marker))).toBe(true);
  });

  it('a rerun with no changes reads no file and uploads nothing; a copied file uploads no new chunk', async () => {
    const again = await backupJson(agent, store);
    expect(again).toMatchObject({ filesRead: 0, filesCached: 6, chunksUploaded: 0, bytesUploaded: 0 });
    copyFileSync(join(src, 'media', 'big.bin'), join(src, 'media', 'big-copy.bin'));
    const dup = await backupJson(agent, store);
    expect(dup).toMatchObject({ filesRead: 1, chunksUploaded: 0, bytesUploaded: 0 });
    expect(dup.bytesRead).toBe(6 * 1024 * 1024 + 123);
    unlinkSync(join(src, 'media', 'big-copy.bin'));
  });

  it('appending to a big file uploads only its changed tail, not the whole file', async () => {
    const big = join(src, 'media', 'big.bin');
    const st = statSync(big);
    writeFileSync(big, randomBytes(4096), { flag: 'a' });
    const r = await backupJson(agent, store);
    expect(r.filesRead).toBe(1);
    expect(Number(r.bytesUploaded)).toBeGreaterThan(4096);
    expect(Number(r.bytesUploaded)).toBeLessThan(st.size / 2);
  });

  it('the change cache really skips reading: a same-size in-place edit with the old mtime goes unnoticed', async () => {
    const f = join(src, 'docs', 'deep', 'er', 'letter.md');
    const before = readFileSync(f);
    // A whole-second mtime can be put back exactly after the edit.
    const when = new Date('2024-01-02T03:04:05Z');
    utimesSync(f, when, when);
    expect((await backupJson(agent, store)).filesRead).toBe(1);
    const ino = statSync(f).ino;
    // Overwrite in place (same inode, same size), then put the old mtime back: only a read could notice.
    const fd = openSync(f, 'r+');
    writeSync(fd, Buffer.from('X'.repeat(10)), 0, 10, 0);
    closeSync(fd);
    utimesSync(f, when, when);
    expect(statSync(f).ino).toBe(ino);
    const r = await backupJson(agent, store);
    expect(r.filesRead).toBe(0);
    const out = join(work, 'out-cache');
    expect((await agent.run(['restore', '--store', store, '--to', out, '--path', 'src/docs/deep'])).code).toBe(0);
    expect(readFileSync(join(out, 'src', 'docs', 'deep', 'er', 'letter.md')).equals(before)).toBe(true);
    // Once the mtime moves, the change is picked up.
    utimesSync(f, new Date(), new Date());
    const r2 = await backupJson(agent, store);
    expect(r2.filesRead).toBe(1);
  });

  it('restores a subpath only, and by its original absolute path', async () => {
    const out = join(work, 'out-sub');
    const r = await agent.run(['restore', '--store', store, '--path', 'src/docs/deep', '--to', out]);
    expect(r.code, r.output).toBe(0);
    expect(snapshotTree(join(out, 'src', 'docs', 'deep'))).toEqual(snapshotTree(join(src, 'docs', 'deep')));
    expect(existsSync(join(out, 'src', 'media'))).toBe(false);
    expect(existsSync(join(out, 'src', 'docs', 'notes.txt'))).toBe(false);

    const out2 = join(work, 'out-abs');
    const r2 = await agent.run(['restore', '--store', store, '--path', join(src, 'media'), '--to', out2]);
    expect(r2.code, r2.output).toBe(0);
    expect(readFileSync(join(out2, 'src', 'media', 'big.bin')).equals(readFileSync(join(src, 'media', 'big.bin')))).toBe(true);

    const bad = await agent.run(['restore', '--store', store, '--path', 'src/nope', '--to', out2]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('has nothing at "src/nope"');
  });

  it('heals in place (--original): deleted and damaged files come back, and a restore needs --to or --original', async () => {
    const expected = snapshotTree(src);
    rmSync(join(src, 'docs', 'notes.txt'));
    writeFileSync(join(src, 'run.sh'), 'damaged');
    rmSync(join(src, 'docs', 'deep'), { recursive: true });
    const none = await agent.run(['restore', '--store', store]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('--to <dir>, or --original');
    const r = await agent.run(['restore', '--store', store, '--original']);
    expect(r.code, r.output).toBe(0);
    expect(snapshotTree(src)).toEqual(expected);
  });

  it('compresses text, stores incompressible data as is (compression only where it pays)', async () => {
    const textDir = join(work, 'text-only');
    const rndDir = join(work, 'random-only');
    makeCorpusDir(textDir, () => Buffer.from(Array.from({ length: 20000 }, (_, i) => `row ${i % 97}, value ${i % 13}\n`).join('')));
    makeCorpusDir(rndDir, () => randomBytes(300_000));
    const textAgent = await makeAgent({
      registration: NO_SERVER,
      tlsPin: PIN,
      config: { backup: { include: [textDir], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
    });
    const rndAgent = await makeAgent({
      registration: NO_SERVER,
      tlsPin: PIN,
      config: { backup: { include: [rndDir], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
    });
    const t = await backupJson(textAgent, join(work, 'store-text'));
    const n = await backupJson(rndAgent, join(work, 'store-rnd'));
    expect(Number(t.bytesUploaded)).toBeLessThan(Number(t.bytes) * 0.2);
    // Incompressible: exactly the data plus 30 bytes of header+tag per chunk, i.e. not compressed.
    expect(Number(n.bytesUploaded)).toBe(Number(n.bytes) + 30 * Number(n.chunksUploaded));
  });
});

function makeCorpusDir(dir: string, content: () => Buffer): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}`), content());
}
