// Byte-for-byte comparison of two trees, shared by the demo's verify step and the end-to-end tests.
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Differences between tree `b` and tree `a` (missing entries, mode, content, symlink targets, and modification times
 * to the whole microsecond, which is what snapshots keep); [] when identical. A tree with no file to compare is a
 * difference too, so an empty restore never passes.
 */
export async function diffTrees(a: string, b: string): Promise<string[]> {
  const out: string[] = [];
  let compared = 0;
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const pa = join(dir, name);
      const rel = relative(a, pa);
      const pb = join(b, rel);
      // bigint stats: a plain mtimeMs double rounds a time in a millisecond's last ~120 ns up to the next
      // millisecond, so comparing Math.floor(mtimeMs) flags times that are equal to the microsecond.
      const sa = await lstat(pa, { bigint: true });
      const sb = await lstat(pb, { bigint: true }).catch(() => undefined);
      if (!sb) {
        out.push(`missing: ${rel}`);
        continue;
      }
      if ((sa.mode & 0o7777n) !== (sb.mode & 0o7777n)) out.push(`mode differs: ${rel}`);
      if (sa.isDirectory()) await walk(pa);
      else if (sa.isSymbolicLink()) {
        if ((await readlink(pa)) !== (await readlink(pb))) out.push(`symlink differs: ${rel}`);
      } else {
        compared++;
        if (sa.mtimeNs / 1000n !== sb.mtimeNs / 1000n) out.push(`mtime differs: ${rel}`);
        if (!(await readFile(pa)).equals(await readFile(pb))) out.push(`content differs: ${rel}`);
      }
    }
  }
  await walk(a);
  if (compared === 0) out.push('nothing compared: no file in the first tree');
  return out;
}
