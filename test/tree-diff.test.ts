// The tree comparison the demo and the end-to-end tests trust: equal to the microsecond passes, one µs apart fails.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffTrees } from '../scripts/lib/tree-diff.js';

// touch takes nanoseconds; Node's utimes cannot set them.
const touch = (path: string, time: string) => execFileSync('touch', ['-m', '-d', `@${time}`, path]);

async function pair(timeA: string, timeB: string): Promise<string[]> {
  const root = await mkdtemp(join(tmpdir(), 'holdfast-tree-diff-'));
  for (const [side, time] of [
    ['a', timeA],
    ['b', timeB],
  ]) {
    await mkdir(join(root, side));
    await writeFile(join(root, side, 'f.txt'), 'same bytes');
    touch(join(root, side, 'f.txt'), time);
  }
  return diffTrees(join(root, 'a'), join(root, 'b'));
}

describe('diffTrees', () => {
  it('treats times equal to the microsecond as equal, also in the last nanoseconds of a millisecond', async () => {
    // A plain stat's mtimeMs double rounds .999999999 s up to the next millisecond; the restored .999999 does not.
    expect(await pair('1733500000.999999999', '1733500000.999999000')).toEqual([]);
  });

  it('reports a time one microsecond apart, and a tree with nothing to compare', async () => {
    expect(await pair('1733500000.000002000', '1733500000.000001000')).toEqual(['mtime differs: f.txt']);
    const empty = await mkdtemp(join(tmpdir(), 'holdfast-tree-diff-empty-'));
    expect(await diffTrees(empty, empty)).toEqual(['nothing compared: no file in the first tree']);
  });
});
