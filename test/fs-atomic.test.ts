// common/fs-atomic.ts, the one atomic-write module: the temp file is fsynced before the rename and the folder after
// it (both forms), a process killed mid-write leaves the old file, a failed write leaves the old file and no temp.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { writeFileAtomic, writeFileAtomicSync } from '../common/fs-atomic.js';
import { repoRoot } from './helpers/paths.js';
import { startProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Records fsyncs (by path) and renames, in order, through the module objects fs-atomic calls. */
function watchFs(): string[] {
  const events: string[] = [];
  const fdPaths = new Map<number, string>();
  const realOpenSync = fs.openSync;
  vi.spyOn(fs, 'openSync').mockImplementation(((path: fs.PathLike, ...rest: unknown[]) => {
    const fd = (realOpenSync as (...a: unknown[]) => number)(path, ...rest);
    fdPaths.set(fd, String(path));
    return fd;
  }) as typeof fs.openSync);
  const realFsyncSync = fs.fsyncSync;
  vi.spyOn(fs, 'fsyncSync').mockImplementation((fd: number) => {
    events.push(`fsync ${fdPaths.get(fd)}`);
    realFsyncSync(fd);
  });
  const realRenameSync = fs.renameSync;
  vi.spyOn(fs, 'renameSync').mockImplementation((from: fs.PathLike, to: fs.PathLike) => {
    events.push(`rename ${from} -> ${to}`);
    realRenameSync(from, to);
  });
  const realOpen = fsp.open;
  vi.spyOn(fsp, 'open').mockImplementation((async (path: fs.PathLike, ...rest: unknown[]) => {
    const fh = await (realOpen as (...a: unknown[]) => Promise<fsp.FileHandle>)(path, ...rest);
    const realSync = fh.sync.bind(fh);
    const realDatasync = fh.datasync.bind(fh);
    fh.sync = async () => {
      events.push(`fsync ${path}`);
      return realSync();
    };
    fh.datasync = async () => {
      events.push(`fdatasync ${path}`);
      return realDatasync();
    };
    return fh;
  }) as typeof fsp.open);
  const realRename = fsp.rename;
  vi.spyOn(fsp, 'rename').mockImplementation(async (from: fs.PathLike, to: fs.PathLike) => {
    events.push(`rename ${from} -> ${to}`);
    return realRename(from, to);
  });
  return events;
}

const forms = {
  async: (path: string, data: string | Uint8Array[], mode?: number) => writeFileAtomic(path, data, mode),
  sync: async (path: string, data: string | Uint8Array[], mode?: number) => writeFileAtomicSync(path, data, mode),
};

describe.each(Object.entries(forms))('writeFileAtomic (%s)', (form, write) => {
  it('fsyncs the temp file before the rename and the folder after it', async () => {
    const dir = await tempDir();
    const target = join(dir, 'agent.json');
    fs.writeFileSync(target, 'old');
    const events = watchFs();
    await write(target, [Buffer.from('new '), Buffer.from('content')], 0o640);
    vi.restoreAllMocks();

    expect(fs.readFileSync(target, 'utf8')).toBe('new content');
    expect(fs.statSync(target).mode & 0o777).toBe(0o640);
    expect(events).toHaveLength(3);
    const tmp = /^fsync (.+)$/.exec(events[0])?.[1];
    expect(tmp).toMatch(new RegExp(`^${dir}/\\.agent\\.json\\.\\d+\\.[0-9a-f]{8}\\.tmp$`));
    expect(events).toEqual([`fsync ${tmp}`, `rename ${tmp} -> ${target}`, `fsync ${dir}`]);
    expect(fs.readdirSync(dir)).toEqual(['agent.json']);
  });

  it('a failed write leaves the old file and no temp file', async () => {
    const dir = await tempDir();
    const target = join(dir, 'device.key');
    fs.writeFileSync(target, 'old');
    const full = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    if (form === 'sync')
      vi.spyOn(fs, 'fsyncSync').mockImplementation(() => {
        throw full;
      });
    else {
      const realOpen = fsp.open;
      vi.spyOn(fsp, 'open').mockImplementation((async (...args: Parameters<typeof fsp.open>) => {
        const fh = await realOpen(...args);
        fh.sync = async () => {
          throw full;
        };
        return fh;
      }) as typeof fsp.open);
    }
    await expect(write(target, 'new')).rejects.toThrow(/ENOSPC/);
    vi.restoreAllMocks();
    expect(fs.readFileSync(target, 'utf8')).toBe('old');
    expect(fs.readdirSync(dir)).toEqual(['device.key']);
  });

  it('a process killed mid-write leaves the old file', async () => {
    const dir = await tempDir();
    const target = join(dir, 'registration.json');
    fs.writeFileSync(target, 'old content');
    const tsx = join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const child = startProcess(process.execPath, [tsx, join(repoRoot, 'test', 'helpers', 'atomic-write-crash.ts'), form, target]);
    await child.waitForOutput('mid-write', 60_000);
    await child.kill9();

    expect(fs.readFileSync(target, 'utf8')).toBe('old content');
    // The half-written temp file is what the crash left; it never replaced the target.
    const left = fs.readdirSync(dir).filter((n) => n !== 'registration.json');
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^\.registration\.json\.\d+\.[0-9a-f]{8}\.tmp$/);
    expect(fs.readFileSync(join(dir, left[0]), 'utf8')).toBe('n'.repeat(4096));
  });
});
