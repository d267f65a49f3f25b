import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile, lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeDiff {
  files: number;
  bytes: number;
  /** Relative paths that differ, are missing or are extra in the restored tree. */
  problems: string[];
}

async function walk(root: string, rel = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const dir = join(root, rel);
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) for (const [k, v] of await walk(root, r)) out.set(k, v);
    else if (ent.isSymbolicLink()) out.set(r, `link:${await readlink(join(root, r))}`);
    else if (ent.isFile())
      out.set(
        r,
        createHash('sha256')
          .update(await readFile(join(root, r)))
          .digest('hex'),
      );
  }
  return out;
}

/** Compare two folders byte for byte (by SHA-256 of every regular file, symlink targets by text). */
export async function compareTrees(original: string, restored: string): Promise<TreeDiff> {
  const [a, b] = await Promise.all([walk(original), walk(restored)]);
  const problems: string[] = [];
  let bytes = 0;
  for (const [path, hash] of a) {
    const other = b.get(path);
    if (other === undefined) problems.push(`missing: ${path}`);
    else if (other !== hash) problems.push(`differs: ${path}`);
    else if (!hash.startsWith('link:')) bytes += (await lstat(join(original, path))).size;
  }
  for (const path of b.keys()) if (!a.has(path)) problems.push(`extra: ${path}`);
  return { files: a.size, bytes, problems };
}

/** A small folder of sample documents for a test backup: text, nested folders and incompressible data. */
export async function makeSampleData(dir: string): Promise<void> {
  await mkdir(join(dir, 'Documents', 'Finance'), { recursive: true });
  await mkdir(join(dir, 'Pictures'), { recursive: true });
  await writeFile(join(dir, 'Documents', 'readme.txt'), 'Holdfast sample data: backed up by the test agent and restored to verify.\n');
  await writeFile(
    join(dir, 'Documents', 'Finance', 'q3-report.csv'),
    `${Array.from({ length: 400 }, (_, i) => `${i},item-${i},${(i * 37) % 1000}.00`).join('\n')}\n`,
  );
  await writeFile(join(dir, 'Documents', 'notes.md'), `# Notes\n\n${'Backups run nightly. '.repeat(200)}\n`);
  await writeFile(join(dir, 'Pictures', 'photo.bin'), randomBytes(256 * 1024));
}
