// Sample folders for end-to-end tests; the byte-for-byte comparison of two trees is scripts/lib/tree-diff.ts.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

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

export { diffTrees } from '../../scripts/lib/tree-diff.js';
