// The change cache: for every file of the last backup, (path, size, mtime, inode) -> its chunk ids, so an
// unchanged file is neither read nor chunked again.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './fsutil.js';

export interface CachedFile {
  size: number;
  mtimeMs: number;
  ino: number;
  /** The file's chunk ids, concatenated (64 hex digits each). */
  ids: string;
}

/** Split concatenated chunk ids. */
export function splitIds(ids: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += 64) out.push(ids.slice(i, i + 64));
  return out;
}

interface CacheFile {
  v: 1;
  /** The snapshot this cache describes; the cache is void when the store no longer lists it. */
  snapshotId: string;
  /** [source path, size, mtimeMs, ino, concatenated hex chunk ids] */
  files: Array<[string, number, number, number, string]>;
}

export class ChangeCache {
  constructor(
    readonly snapshotId: string | null,
    readonly files: Map<string, CachedFile>,
  ) {}

  static empty(): ChangeCache {
    return new ChangeCache(null, new Map());
  }

  /** A missing or unreadable cache is an empty one: the backup then reads every file. */
  static load(path: string): ChangeCache {
    let data: CacheFile;
    try {
      data = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
    } catch {
      return ChangeCache.empty();
    }
    if (data?.v !== 1 || !Array.isArray(data.files)) return ChangeCache.empty();
    const files = new Map<string, CachedFile>();
    for (const [p, size, mtimeMs, ino, ids] of data.files) files.set(p, { size, mtimeMs, ino, ids });
    return new ChangeCache(data.snapshotId, files);
  }

  /** The cached chunk ids when the file is unchanged, else undefined. */
  lookup(source: string, size: number, mtimeMs: number, ino: number): string | undefined {
    const c = this.files.get(source);
    if (!c || c.size !== size || c.mtimeMs !== mtimeMs || c.ino !== ino) return undefined;
    return c.ids;
  }

  save(path: string): void {
    const data: CacheFile = {
      v: 1,
      snapshotId: this.snapshotId ?? '',
      files: [...this.files].map(([p, f]) => [p, f.size, f.mtimeMs, f.ino, f.ids]),
    };
    writeFileAtomic(path, JSON.stringify(data), 0o600);
  }
}
