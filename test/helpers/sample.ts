// Sample folders for end-to-end tests, and a byte-for-byte comparison of two trees.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** `files` files of `fileBytes` random (incompressible) bytes plus a few small text files, in sub-folders. */
export async function makeSampleTree(root: string, files: number, fileBytes: number): Promise<void> {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `dir${i % 4}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `file${i}.bin`), randomBytes(fileBytes));
  }
  await writeFile(join(root, 'notes.txt'), 'Holdfast sample\n'.repeat(500));
  await writeFile(join(root, 'empty.txt'), '');
}

/** Differences between two trees (content, mode, mtime to the ms, symlink targets); [] when identical. */
export async function diffTrees(a: string, b: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const pa = join(dir, name);
      const rel = relative(a, pa);
      const pb = join(b, rel);
      const sa = await lstat(pa);
      const sb = await lstat(pb).catch(() => undefined);
      if (!sb) {
        out.push(`missing: ${rel}`);
        continue;
      }
      if ((sa.mode & 0o7777) !== (sb.mode & 0o7777)) out.push(`mode differs: ${rel}`);
      if (sa.isDirectory()) await walk(pa);
      else if (sa.isSymbolicLink()) {
        if ((await readlink(pa)) !== (await readlink(pb))) out.push(`symlink differs: ${rel}`);
      } else {
        if (Math.floor(sa.mtimeMs) !== Math.floor(sb.mtimeMs)) out.push(`mtime differs: ${rel}`);
        if (!(await readFile(pa)).equals(await readFile(pb))) out.push(`content differs: ${rel}`);
      }
    }
  }
  await walk(a);
  return out;
}
