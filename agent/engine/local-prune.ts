// Prune for a local store folder (local-store.ts): the same sweep as the server's, on its packs/<n>.pack + .idx
// pairs. A pack with nothing live is deleted (.idx first); one with more unused bytes than allowed is rewritten
// (new pack and .idx written atomically, then the old .idx and pack deleted): a crash leaves either copy indexed,
// and a .pack without its .idx (orphan) is deleted by the next prune. A local store has one writer at a time (the
// agent that opened it): nothing backs up into it during its prune.
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { newSweepStats, type SweepStats } from '../../protocol/prune-messages.js';

export interface LocalLocation {
  pack: string;
  offset: number;
  length: number;
}

export async function sweepLocal(
  dir: string,
  index: Map<string, LocalLocation>,
  keep: (id: string) => boolean,
  opts: { dryRun: boolean; maxUnusedPercent: number },
): Promise<SweepStats> {
  const packDir = join(dir, 'packs');
  const names = readdirSync(packDir);
  const byPack = new Map<string, { kept: string[]; unused: string[] }>();
  for (const [id, loc] of index) {
    const p = byPack.get(loc.pack) ?? { kept: [], unused: [] };
    (keep(id) ? p.kept : p.unused).push(id);
    byPack.set(loc.pack, p);
  }
  const size = (pack: string) => statSync(join(packDir, `${pack}.pack`), { throwIfNoEntry: false })?.size ?? 0;
  const stats = newSweepStats(
    index.size,
    names.filter((n) => n.endsWith('.pack')).reduce((n, f) => n + size(f.slice(0, -5)), 0),
  );
  const orphans = names.filter((n) => n.endsWith('.pack') && !names.includes(`${n.slice(0, -5)}.idx`)).map((n) => n.slice(0, -5));
  stats.orphanPacks = orphans.length;
  let removed = orphans.reduce((n, p) => n + size(p), 0);
  const work: Array<{ pack: string; kept: string[]; unused: string[]; rewrite: boolean }> = [];
  for (const [pack, p] of byPack) {
    if (p.unused.length === 0) continue;
    const total = size(pack);
    const liveBytes = p.kept.reduce((n, id) => n + index.get(id)!.length, 0);
    const rewrite = p.kept.length > 0;
    if (rewrite && (total - liveBytes) * 100 <= opts.maxUnusedPercent * total) {
      stats.unusedKept += p.unused.length;
      continue;
    }
    work.push({ pack, ...p, rewrite });
    removed += total;
    stats.chunksDeleted += p.unused.length;
    stats.chunkBytesDeleted += p.unused.reduce((n, id) => n + index.get(id)!.length, 0);
    if (rewrite) {
      stats.packsRewritten++;
      stats.bytesCopied += liveBytes;
    } else stats.packsDeleted++;
  }
  stats.packBytesAfter = stats.packBytesBefore - removed + stats.bytesCopied;
  if (opts.dryRun) return stats;
  for (const p of orphans) rmSync(join(packDir, `${p}.pack`), { force: true });
  for (const w of work) {
    if (w.rewrite) {
      const parts: Buffer[] = [];
      const entries: Array<[string, number, number]> = [];
      const src = await open(join(packDir, `${w.pack}.pack`), 'r');
      try {
        let offset = 0;
        for (const id of w.kept) {
          const loc = index.get(id)!;
          const buf = Buffer.alloc(loc.length);
          const { bytesRead } = await src.read(buf, 0, loc.length, loc.offset);
          if (bytesRead !== loc.length) throw new Error(`pack ${w.pack} is shorter than its index says (chunk ${id})`);
          parts.push(buf);
          entries.push([id, offset, loc.length]);
          offset += loc.length;
        }
      } finally {
        await src.close();
      }
      const fresh = randomBytes(12).toString('hex');
      await writeFileAtomic(join(packDir, `${fresh}.pack`), parts);
      await writeFileAtomic(join(packDir, `${fresh}.idx`), JSON.stringify(entries));
      for (const [id, offset, length] of entries) index.set(id, { pack: fresh, offset, length });
    }
    rmSync(join(packDir, `${w.pack}.idx`), { force: true });
    rmSync(join(packDir, `${w.pack}.pack`), { force: true });
    for (const id of w.unused) index.delete(id);
  }
  return stats;
}
