// What the side-by-side run backs up besides the seeded corpus (issue 19): any folder an admin points it at
// (`--corpus DIR`, used read-only) and one large incompressible file (`--big-file`).
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { binaryContent } from './content.js';
import type { ManifestEntry } from './corpus.js';
import { mapLimit } from './pool.js';
import { listFiles } from './tree.js';

/** A folder's files with size and SHA-256 (what a restore is verified against); reads every file once. */
export async function manifestOf(root: string): Promise<ManifestEntry[]> {
  const files = await listFiles(root);
  return mapLimit(files, 4, async (path) => ({ path, ...(await hashFile(join(root, path))) }));
}

async function hashFile(file: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  const fh = await open(file, 'r');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  let size = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, size);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { size, sha256: h.digest('hex') };
}

export const BIG_FILE_BYTES = 1024 * 1024 * 1024;
/** The change between the big file's two backups: this many bytes rewritten in its middle. */
export const BIG_CHANGE_BYTES = 10 * 1024 * 1024;
const BIG_SEED = 'holdfast-bench-big-file-v1';
const PIECE = 64 * 1024 * 1024;

export interface BigFile {
  /** The folder backed up: it holds the one file, big.bin. */
  dir: string;
  metaDir: string;
  manifest: ManifestEntry[];
}

const piece = (i: number, size: number): Buffer => binaryContent(BIG_SEED, `piece:${i}`, size);
const changeAt = (): number => Math.floor(BIG_FILE_BYTES / 2 / 4096) * 4096;

/** The 1 GiB incompressible file under `root` (bench-out/corpus), generated once from a fixed seed and reused. */
export async function ensureBigFile(root: string, say: (msg: string) => void): Promise<BigFile> {
  const metaDir = join(root, 'big-file-1g-v1');
  const dir = join(metaDir, 'data');
  const file = join(dir, 'big.bin');
  await revertBigChange(metaDir);
  const saved = await readFile(join(metaDir, 'manifest.json'), 'utf8').catch(() => '');
  const size = await stat(file).then(
    (s) => s.size,
    () => -1,
  );
  if (saved && size === BIG_FILE_BYTES) return { dir, metaDir, manifest: JSON.parse(saved) as ManifestEntry[] };
  say('big file: generating 1 GiB of incompressible bytes');
  await mkdir(dir, { recursive: true });
  const fh = await open(file, 'w');
  const h = createHash('sha256');
  try {
    for (let i = 0, at = 0; at < BIG_FILE_BYTES; i++, at += PIECE) {
      const data = piece(i, Math.min(PIECE, BIG_FILE_BYTES - at));
      h.update(data);
      await fh.write(data, 0, data.length, at);
    }
  } finally {
    await fh.close();
  }
  const manifest = [{ path: 'big.bin', size: BIG_FILE_BYTES, sha256: h.digest('hex') }];
  await writeFile(join(metaDir, 'manifest.json'), JSON.stringify(manifest));
  return { dir, metaDir, manifest };
}

/** Rewrites BIG_CHANGE_BYTES in the middle with other bytes (the originals kept beside, for the revert); the new manifest. */
export async function changeBigFile(big: BigFile): Promise<ManifestEntry[]> {
  const file = join(big.dir, 'big.bin');
  const fh = await open(file, 'r+');
  try {
    const original = Buffer.alloc(BIG_CHANGE_BYTES);
    await fh.read(original, 0, BIG_CHANGE_BYTES, changeAt());
    await writeFile(join(big.metaDir, 'changed-original.bin'), original);
    await fh.write(binaryContent(BIG_SEED, 'change', BIG_CHANGE_BYTES), 0, BIG_CHANGE_BYTES, changeAt());
  } finally {
    await fh.close();
  }
  return [{ path: 'big.bin', ...(await hashFile(file)) }];
}

/** Puts the original bytes back after a change (also one an interrupted run left). */
export async function revertBigChange(metaDir: string): Promise<void> {
  const original = await readFile(join(metaDir, 'changed-original.bin')).catch(() => undefined);
  if (!original || original.length !== BIG_CHANGE_BYTES) return;
  const fh = await open(join(metaDir, 'data', 'big.bin'), 'r+');
  try {
    await fh.write(original, 0, original.length, changeAt());
  } finally {
    await fh.close();
  }
  await writeFile(join(metaDir, 'changed-original.bin'), '');
}
