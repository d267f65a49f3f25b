// Files with identical content (copies) restore from one fetch: each chunk is fetched, authenticated and
// decompressed once and written to every copy, each with its own mode and mtime. A copy whose place is
// blocked fails alone; an original that fails does not take its copies with it.
import { beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { backupFolders } from '../agent/engine/backup.js';
import { LocalStore } from '../agent/engine/local-store.js';
import { RestoreError, restoreSnapshot } from '../agent/engine/restore.js';
import type { ChunkLease } from '../agent/store.js';
import { snapshotTree } from './helpers/engine-corpus.js';
import { tempDir } from './helpers/server.js';

const deviceKey = randomBytes(32);
let work: string;
let src: string;
let store: LocalStore;
/** How often the restore fetched each chunk. */
const fetched = new Map<string, number>();

function countingStore(dir: string): LocalStore {
  const s = LocalStore.open(dir);
  const get = s.get.bind(s);
  s.get = (ids: string[]): Promise<ChunkLease> => {
    for (const id of ids) fetched.set(id, (fetched.get(id) ?? 0) + 1);
    return get(ids);
  };
  return s;
}

beforeAll(async () => {
  work = await tempDir('holdfast-copies-');
  src = join(work, 'src');
  mkdirSync(join(src, 'a', 'deep'), { recursive: true });
  mkdirSync(join(src, 'b'));
  // Small text files and their copies, spread over folders and far apart in snapshot order.
  writeFileSync(join(src, 'a', 'notes.txt'), 'meeting notes, line after line\n'.repeat(4000));
  copyFileSync(join(src, 'a', 'notes.txt'), join(src, 'b', 'notes-copy.txt'));
  copyFileSync(join(src, 'a', 'notes.txt'), join(src, 'a', 'deep', 'notes-again.txt'));
  chmodSync(join(src, 'b', 'notes-copy.txt'), 0o600);
  utimesSync(join(src, 'a', 'deep', 'notes-again.txt'), 1_600_000_000, 1_600_000_000);
  // A big file (restored in parts) and its copy.
  writeFileSync(join(src, 'a', 'video.bin'), randomBytes(20 * 1024 * 1024));
  copyFileSync(join(src, 'a', 'video.bin'), join(src, 'b', 'video-copy.bin'));
  chmodSync(join(src, 'b', 'video-copy.bin'), 0o640);
  utimesSync(join(src, 'b', 'video-copy.bin'), 1_500_000_000, 1_500_000_000);
  for (let i = 0; i < 40; i++) writeFileSync(join(src, 'b', `other-${i}.dat`), randomBytes(3000 + i));
  store = countingStore(join(work, 'store'));
  await backupFolders({ store, deviceKey, roots: [src], cachePath: join(work, 'cache.bin'), threads: 2 });
});

describe('restore of files that are copies of each other', () => {
  it('restores every copy byte-identical with its own mode and mtime, fetching each chunk once', async () => {
    fetched.clear();
    const out = join(work, 'out');
    const r = await restoreSnapshot({ store, deviceKey, snapshot: 'latest', target: out, workers: 2 });
    expect(r.files).toBe(45);
    expect(snapshotTree(join(out, 'src'))).toEqual(snapshotTree(src));
    expect(statSync(join(out, 'src', 'b', 'video-copy.bin')).mode & 0o777).toBe(0o640);
    expect(statSync(join(out, 'src', 'a', 'deep', 'notes-again.txt')).mtimeMs).toBe(1_600_000_000_000);
    const counts = [...fetched.values()];
    expect(counts.length).toBeGreaterThan(20);
    expect(Math.max(...counts)).toBe(1);
  });

  it('a copy whose place is blocked fails alone; an original whose place is blocked does not stop its copies', async () => {
    const out = join(work, 'out-blocked');
    // Folders where one small copy and the big original should go.
    mkdirSync(join(out, 'src', 'b', 'notes-copy.txt'), { recursive: true });
    mkdirSync(join(out, 'src', 'a', 'video.bin'), { recursive: true });
    const err = await restoreSnapshot({ store, deviceKey, snapshot: 'latest', target: out, workers: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    const failed = (err as RestoreError).failures.map((f) => f.path).sort();
    expect(failed).toEqual([join(out, 'src', 'a', 'video.bin'), join(out, 'src', 'b', 'notes-copy.txt')]);
    expect(readFileSync(join(out, 'src', 'b', 'video-copy.bin')).equals(readFileSync(join(src, 'a', 'video.bin')))).toBe(true);
    expect(readFileSync(join(out, 'src', 'a', 'deep', 'notes-again.txt'), 'utf8')).toBe(readFileSync(join(src, 'a', 'notes.txt'), 'utf8'));
    expect((err as RestoreError).result.files).toBe(43);
  });
});
