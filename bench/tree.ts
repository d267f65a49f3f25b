// Walking directory trees: repository sizes, warming the page cache, and verifying a restore.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ManifestEntry } from './corpus.js';
import { mapLimit } from './pool.js';

/** Every regular file under `root`, as paths relative to it with '/' separators, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    await Promise.all(
      entries.map(async (e) => {
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile()) out.push(relative(root, full).split(sep).join('/'));
      }),
    );
  };
  await walk(root);
  return out.sort();
}

/** Sum of the sizes of all files under `root` (apparent size, bytes); 0 when it does not exist. */
export async function treeBytes(root: string): Promise<number> {
  let files: string[];
  try {
    files = await listFiles(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const sizes = await mapLimit(files, 32, async (f) => (await stat(join(root, f))).size);
  return sizes.reduce((a, b) => a + b, 0);
}

/** Read every file once, so both tools start from the same (warm) page cache. */
export async function warmTree(root: string): Promise<number> {
  const files = await listFiles(root);
  const sizes = await mapLimit(files, 8, async (f) => (await readFile(join(root, f))).length);
  return sizes.reduce((a, b) => a + b, 0);
}

export interface VerifyResult {
  ok: boolean;
  files: number;
  bytes: number;
  missing: string[];
  extra: string[];
  different: string[];
}

/** Compare a restored tree with what the source held: same paths, sizes and SHA-256 of every file. */
export async function verifyTree(root: string, expected: ManifestEntry[]): Promise<VerifyResult> {
  const present = new Set(await listFiles(root));
  const missing: string[] = [];
  const different: string[] = [];
  let bytes = 0;
  await mapLimit(expected, 8, async (e) => {
    if (!present.delete(e.path)) {
      missing.push(e.path);
      return;
    }
    const data = await readFile(join(root, e.path));
    bytes += data.length;
    if (data.length !== e.size || createHash('sha256').update(data).digest('hex') !== e.sha256) different.push(e.path);
  });
  const extra = [...present].sort();
  return {
    ok: missing.length === 0 && extra.length === 0 && different.length === 0,
    files: expected.length - missing.length,
    bytes,
    missing: missing.sort(),
    extra,
    different: different.sort(),
  };
}

export function describeVerify(v: VerifyResult): string {
  if (v.ok) return `verified ${v.files} files, ${(v.bytes / 1024 ** 2).toFixed(1)} MiB`;
  const show = (label: string, list: string[]): string => (list.length ? `${list.length} ${label} (e.g. ${list.slice(0, 3).join(', ')})` : '');
  return ['restore differs from the source:', show('missing', v.missing), show('extra', v.extra), show('different', v.different)].filter(Boolean).join(' ');
}
