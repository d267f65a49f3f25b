// Incremental backups: the binary change cache and delta snapshots (entries that did not change are stored as
// runs of the cached snapshot). Engine calls in-process on local store folders, plus the agent CLI for
// escrow-restore; every restore is compared with the source tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { backupFolders, type BackupResult } from '../agent/engine/backup.js';
import { ChangeCache, ChangeCacheWriter } from '../agent/engine/change-cache.js';
import { openSnapshot } from '../agent/engine/codec.js';
import { deriveKeys } from '../agent/engine/keys.js';
import { LocalStore } from '../agent/engine/local-store.js';
import { restoreSnapshot } from '../agent/engine/restore.js';
import { DELTA_FORMAT, FULL_FORMAT, loadSnapshot, MAX_DELTA_DEPTH, type Snapshot, type SnapshotDelta } from '../agent/engine/snapshot.js';
import { makeAgent } from './helpers/agent.js';
import { makeCorpus, plaintextMarker, snapshotTree } from './helpers/engine-corpus.js';
import { removeTempDirs, tempDir } from './helpers/server.js';

const deviceKey = randomBytes(32);
const keys = deriveKeys(deviceKey);
let work: string;

beforeAll(async () => {
  work = await tempDir('holdfast-incr-');
});

afterAll(async () => {
  await removeTempDirs();
});

/** The snapshot as stored (full or delta), and its sealed size. */
async function stored(store: LocalStore, id: string): Promise<{ snap: Snapshot | SnapshotDelta; sealedBytes: number }> {
  const sealed = await store.getSnapshot(id);
  return { snap: JSON.parse(openSnapshot(keys, id, sealed).toString('utf8')) as Snapshot | SnapshotDelta, sealedBytes: sealed.length };
}

async function restoredTree(store: LocalStore, snapshot: string, name: string, root: string): Promise<ReturnType<typeof snapshotTree>> {
  const out = join(work, `out-${name}`);
  await restoreSnapshot({ store, deviceKey, snapshot, target: out });
  return snapshotTree(join(out, root));
}

function setup(name: string): { src: string; store: LocalStore; cachePath: string; backup: () => Promise<BackupResult> } {
  const src = join(work, name, 'src');
  makeCorpus(src, plaintextMarker());
  // Enough entries that a handful of changes is a small share of the snapshot.
  mkdirSync(join(src, 'bulk'));
  for (let i = 0; i < 60; i++) writeFileSync(join(src, 'bulk', `f${String(i).padStart(2, '0')}.txt`), `bulk file ${i}\n`.repeat(i + 1));
  const store = LocalStore.open(join(work, name, 'store'));
  const cachePath = join(work, name, 'change-cache.bin');
  return { src, store, cachePath, backup: () => backupFolders({ store, deviceKey, roots: [src], cachePath, threads: 1 }) };
}

describe('incremental backups: delta snapshots', () => {
  it('an unchanged rerun stores a delta of one base run (far smaller than the full snapshot), leaves the cache file as it was, and restores byte-identical', async () => {
    const { store, cachePath, backup } = setup('same');
    const first = await backup();
    const full = await stored(store, first.snapshotId);
    expect(full.snap.v).toBe(FULL_FORMAT);
    const cacheBefore = readFileSync(cachePath);
    const cacheMtime = statSync(cachePath).mtimeMs;

    const again = await backup();
    expect(again).toMatchObject({ filesRead: 0, chunksUploaded: 0, files: first.files, dirs: first.dirs, bytes: first.bytes });
    const delta = await stored(store, again.snapshotId);
    expect(delta.snap).toMatchObject({ v: DELTA_FORMAT, base: first.snapshotId, depth: 1, entries: [[0, full.snap.entries.length]] });
    expect(delta.sealedBytes).toBeLessThan(full.sealedBytes / 4);
    expect(readFileSync(cachePath).equals(cacheBefore)).toBe(true);
    expect(statSync(cachePath).mtimeMs).toBe(cacheMtime);

    // The resolved delta is the full snapshot's entry list under its own id and time.
    const resolved = await loadSnapshot(store, keys, again.snapshotId);
    expect(resolved.id).toBe(again.snapshotId);
    expect(resolved.entries).toEqual((full.snap as Snapshot).entries);
    expect(await restoredTree(store, again.snapshotId, 'same', 'src')).toEqual(snapshotTree(join(work, 'same', 'src')));
  });

  it('changes (edit, new file and folder, deletion, chmod, symlink retarget) store only the changed entries; latest and every older snapshot restore to their own trees', async () => {
    const { src, store, backup } = setup('changes');
    const s1 = await backup();
    const tree1 = snapshotTree(src);

    writeFileSync(join(src, 'docs', 'notes.txt'), 'rewritten\n');
    mkdirSync(join(src, 'new-dir'));
    writeFileSync(join(src, 'new-dir', 'fresh.bin'), randomBytes(50_000));
    unlinkSync(join(src, 'docs', 'deep', 'er', 'letter.md'));
    chmodSync(join(src, 'run.sh'), 0o700);
    unlinkSync(join(src, 'link-to-notes'));
    symlinkSync('media/big.bin', join(src, 'link-to-notes'));
    const s2 = await backup();
    expect(s2.filesRead).toBe(2); // the edited file and the new one; the chmod alone needs no read
    const tree2 = snapshotTree(src);
    const d2 = (await stored(store, s2.snapshotId)).snap as SnapshotDelta;
    expect(d2).toMatchObject({ v: DELTA_FORMAT, base: s1.snapshotId, depth: 1 });
    const changedPaths = d2.entries.filter((e) => typeof e[0] === 'string').map((e) => e[0]);
    expect(changedPaths.sort()).toEqual(
      ['src', 'src/docs/deep/er', 'src/docs/notes.txt', 'src/link-to-notes', 'src/new-dir', 'src/new-dir/fresh.bin', 'src/run.sh'].sort(),
    );

    writeFileSync(join(src, 'media', 'empty'), 'no longer empty');
    const s3 = await backup();
    const d3 = (await stored(store, s3.snapshotId)).snap as SnapshotDelta;
    expect(d3).toMatchObject({ v: DELTA_FORMAT, base: s2.snapshotId, depth: 2 });
    const tree3 = snapshotTree(src);

    expect(await restoredTree(store, s1.snapshotId, 'c1', 'src')).toEqual(tree1);
    expect(await restoredTree(store, s2.snapshotId, 'c2', 'src')).toEqual(tree2);
    expect(await restoredTree(store, 'latest', 'c3', 'src')).toEqual(tree3);
  });

  it(`a chain of ${MAX_DELTA_DEPTH} deltas is followed by a full snapshot; a change to most entries stores a full snapshot`, async () => {
    const { src, store, backup } = setup('depth');
    await backup();
    const versions: string[] = [];
    for (let i = 1; i <= MAX_DELTA_DEPTH + 1; i++) {
      writeFileSync(join(src, 'counter.txt'), `version ${i}\n`);
      const r = await backup();
      versions.push(r.snapshotId);
      const s = (await stored(store, r.snapshotId)).snap;
      if (i <= MAX_DELTA_DEPTH) expect(s).toMatchObject({ v: DELTA_FORMAT, depth: i });
      else expect(s.v).toBe(FULL_FORMAT);
    }
    // The deepest delta still restores the version it recorded.
    const deepest = await restoredTree(store, versions[MAX_DELTA_DEPTH - 1], 'deep', 'src');
    expect(readFileSync(join(work, 'out-deep', 'src', 'counter.txt'), 'utf8')).toBe(`version ${MAX_DELTA_DEPTH}\n`);
    expect(Object.keys(deepest)).toContain('counter.txt');

    for (let i = 0; i < 40; i++) writeFileSync(join(src, `many-${i}.txt`), `file ${i}\n`);
    const big = await backup();
    expect((await stored(store, big.snapshotId)).snap.v).toBe(FULL_FORMAT);
    expect(await restoredTree(store, 'latest', 'many', 'src')).toEqual(snapshotTree(src));
  });

  it('a cache naming a snapshot the store does not list is ignored: every file is read and a full snapshot is stored', async () => {
    const { src, cachePath, backup } = setup('foreign');
    await backup();
    const other = LocalStore.open(join(work, 'foreign', 'other-store'));
    const r = await backupFolders({ store: other, deviceKey, roots: [src], cachePath, threads: 1 });
    expect(r.filesCached).toBe(1); // only the empty file, which is never read
    expect(r.filesRead).toBe(r.files - 1);
    expect((await stored(other, r.snapshotId)).snap.v).toBe(FULL_FORMAT);
    expect(await restoredTree(other, 'latest', 'foreign', 'src')).toEqual(snapshotTree(src));
  });

  it('a delta whose base snapshot the store lost fails restore with an error naming both snapshots', async () => {
    const { store, backup } = setup('lost');
    const s1 = await backup();
    const s2 = await backup();
    rmSync(join(work, 'lost', 'store', 'snapshots', `${s1.snapshotId}.snap`));
    rmSync(join(work, 'lost', 'store', 'snapshots', `${s1.snapshotId}.json`));
    await expect(restoreSnapshot({ store, deviceKey, snapshot: s2.snapshotId, target: join(work, 'out-lost') })).rejects.toThrow(
      new RegExp(`snapshot ${s2.snapshotId} needs snapshot ${s1.snapshotId}, which the store cannot provide`),
    );
  });

  it('a malformed change cache (old JSON format, garbage, truncated) is ignored and the backup reads every file', async () => {
    const { src, store, cachePath, backup } = setup('garbage');
    const first = await backup();
    const good = readFileSync(cachePath);
    let last = first;
    for (const bad of [Buffer.from('{"v":1,"snapshotId":"x","files":[]}'), randomBytes(300), good.subarray(0, good.length - 7)]) {
      writeFileSync(cachePath, bad);
      last = await backup();
      expect(last.filesRead).toBe(first.filesRead);
      expect(last.files).toBe(first.files);
    }
    // The snapshot written after the last bad cache holds the whole tree: it restores byte-identical.
    expect(await restoredTree(store, last.snapshotId, 'garbage', 'src')).toEqual(snapshotTree(src));
  });

  it('the CLI: escrow-restore (company key, no device key) restores a delta snapshot byte-identical', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privFile = join(work, 'company.pem');
    writeFileSync(privFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const src = join(work, 'cli-src');
    makeCorpus(src, plaintextMarker());
    const agent = await makeAgent({
      registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
      tlsPin: Array(32).fill('AB').join(':'),
      config: {
        backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } },
        escrowPublicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    });
    const storeDir = join(work, 'cli-store');
    expect((await agent.run(['backup', '--store', storeDir])).code).toBe(0);
    writeFileSync(join(src, 'docs', 'added.txt'), 'added after the first backup\n');
    const second = await agent.run(['backup', '--store', storeDir, '--json']);
    expect(second.code, second.output).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ filesRead: 1 });
    const list = await agent.run(['snapshots', '--store', storeDir]);
    expect(list.code, list.output).toBe(0);
    expect(list.stdout).toContain(JSON.parse(second.stdout).snapshotId);
    const out = join(work, 'cli-out');
    const r = await agent.run(['escrow-restore', '--store', storeDir, '--company-key', privFile, '--to', out]);
    expect(r.code, r.output).toBe(0);
    expect(snapshotTree(join(out, 'cli-src'))).toEqual(snapshotTree(src));
  });
});

describe('change cache file', () => {
  it('round-trips every entry kind, unicode paths and link targets; runs copied from an old cache keep their data; a file marked for re-reading never matches', () => {
    const path = join(work, 'unit-cache.bin');
    const w = new ChangeCacheWriter();
    const ids = 'ab'.repeat(32) + 'cd'.repeat(32);
    // Entries hold exact µs; each is added with the plain stat mtimeMs a walk compares it by.
    w.add(['Docs', 'd', 0o755, 1000500, 0, null], 1000.5, 11);
    w.add(['Docs/Ærø ✓.txt', 'f', 0o644, 1732540000123250, 4096, ids], 1732540000123.25, 12);
    w.add(['Docs/empty', 'f', 0o600, 5000, 0, ''], 5, 13);
    w.add(['Docs/link\udcff', 'l', 0o777, 6000, 0, '../målet\udcfe'], 6, 14);
    w.add(['Docs/changing.log', 'f', 0o644, 7000, 10, 'ef'.repeat(32)], 7, 15, false);
    w.save(path, 'snap-1', 3, [{ name: 'Docs', path: '/home/ann/Docs' }]);

    const c = ChangeCache.load(path);
    expect(c).toMatchObject({ snapshotId: 'snap-1', depth: 3, roots: [{ name: 'Docs', path: '/home/ann/Docs' }], count: 5 });
    expect([0, 1, 2, 3, 4].map((i) => c.entry(i))).toEqual([
      ['Docs', 'd', 0o755, 1000500, 0, null],
      ['Docs/Ærø ✓.txt', 'f', 0o644, 1732540000123250, 4096, ids],
      ['Docs/empty', 'f', 0o600, 5000, 0, ''],
      ['Docs/link\udcff', 'l', 0o777, 6000, 0, '../målet\udcfe'],
      ['Docs/changing.log', 'f', 0o644, 7000, 10, 'ef'.repeat(32)],
    ]);
    expect(c.indexOf('Docs/link\udcff', 0)).toBe(3);
    expect(c.indexOf('Docs/missing', 0)).toBe(-1);
    expect(c.unchanged(1, 4096, 1732540000123.25, 12)).toBe(true);
    expect(c.unchanged(1, 4096, 1732540000123.25, 99)).toBe(false);
    expect(c.unchanged(1, 4097, 1732540000123.25, 12)).toBe(false);
    expect(c.unchanged(4, 10, 7, 15)).toBe(false);
    expect(c.same(3, 'l', 0o777, 6, 0, '../målet\udcfe')).toBe(true);
    expect(c.same(3, 'l', 0o777, 6, 0, '../other')).toBe(false);
    expect(c.same(1, 'f', 0o600, 1732540000123.25, 4096, undefined)).toBe(false);

    // A new cache built from runs of this one plus a new entry.
    const w2 = new ChangeCacheWriter();
    w2.copyRun(c, 2, 2);
    w2.add(['Docs/new', 'f', 0o644, 8000, 3, 'cd'.repeat(32)], 8, 16);
    w2.copyRun(c, 0, 2);
    w2.save(path, 'snap-2', 0, []);
    const c2 = ChangeCache.load(path);
    expect([0, 1, 2, 3, 4].map((i) => c2.entry(i))).toEqual([
      c.entry(2),
      c.entry(3),
      ['Docs/new', 'f', 0o644, 8000, 3, 'cd'.repeat(32)],
      c.entry(0),
      c.entry(1),
    ]);
    expect(c2.unchanged(4, 4096, 1732540000123.25, 12)).toBe(true);
  });

  it('a cache copied with a tree (cp -a keeps mtimes and sizes but not inodes) does not make the copy look unchanged', async () => {
    const { src, backup } = setup('inode');
    const first = await backup();
    const copy = join(work, 'inode', 'copy');
    cpSync(src, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    rmSync(src, { recursive: true });
    cpSync(copy, src, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    const r = await backup();
    expect(r.filesRead).toBe(first.filesRead);
  });
});
