// A ChunkStore in a local folder (engine tests, benchmarks, and admin restores from a copied store).
// Layout: packs/<n>.pack (sealed chunks back to back) + packs/<n>.idx (JSON [[id, offset, length]...], written
// after its pack, atomically), snapshots/<id>.snap + .json (time, size), blobs/<name>.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkLease, ChunkMissingError, type ChunkStore, type SnapshotInfo, type StoredChunk } from '../store.js';
import { writeFileAtomic, writeFileAtomicSync } from '../../common/fs-atomic.js';
import { rmSync } from 'node:fs';
import type { PrunableStore } from '../prune-store.js';
import type { PruneSweepReply, PruneSweepRequest } from '../../protocol/prune-messages.js';
import { sweepLocal } from './local-prune.js';

interface Location {
  pack: string;
  offset: number;
  length: number;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkName(kind: string, name: string): void {
  if (!SAFE_NAME.test(name)) throw new Error(`${kind} name ${JSON.stringify(name)} is not allowed (letters, digits, . _ -)`);
}

export class LocalStore implements ChunkStore, PrunableStore {
  private readonly index = new Map<string, Location>();

  private constructor(readonly dir: string) {}

  static open(dir: string): LocalStore {
    for (const sub of ['packs', 'snapshots', 'blobs']) mkdirSync(join(dir, sub), { recursive: true });
    const store = new LocalStore(dir);
    for (const name of readdirSync(join(dir, 'packs'))) {
      if (!name.endsWith('.idx')) continue;
      const pack = name.slice(0, -4);
      const entries = JSON.parse(readFileSync(join(dir, 'packs', name), 'utf8')) as Array<[string, number, number]>;
      for (const [id, offset, length] of entries) store.index.set(id, { pack, offset, length });
    }
    return store;
  }

  async has(ids: string[]): Promise<Set<string>> {
    return new Set(ids.filter((id) => this.index.has(id)));
  }

  async put(chunks: StoredChunk[]): Promise<void> {
    const seen = new Set<string>();
    const fresh = chunks.filter((c) => !this.index.has(c.id) && !seen.has(c.id) && seen.add(c.id));
    if (fresh.length === 0) return;
    const pack = randomBytes(12).toString('hex');
    const entries: Array<[string, number, number]> = [];
    let offset = 0;
    for (const c of fresh) {
      entries.push([c.id, offset, c.data.byteLength]);
      offset += c.data.byteLength;
    }
    await writeFileAtomic(
      join(this.dir, 'packs', `${pack}.pack`),
      fresh.map((c) => c.data),
    );
    await writeFileAtomic(join(this.dir, 'packs', `${pack}.idx`), [Buffer.from(JSON.stringify(entries))]);
    for (const [id, off, length] of entries) this.index.set(id, { pack, offset: off, length });
  }

  async get(ids: string[]): Promise<ChunkLease> {
    const locs = ids.map((id) => {
      const loc = this.index.get(id);
      if (!loc) throw new ChunkMissingError(id);
      return loc;
    });
    // All chunks in one buffer of their own, so the lease can move it to a worker thread without a copy.
    let total = 0;
    for (const l of locs) total += l.length;
    const memory = Buffer.allocUnsafeSlow(total);
    const views: Buffer[] = [];
    let at = 0;
    for (const l of locs) {
      views.push(memory.subarray(at, at + l.length));
      at += l.length;
    }
    const byPack = new Map<string, number[]>();
    locs.forEach((l, i) => {
      const list = byPack.get(l.pack) ?? [];
      list.push(i);
      byPack.set(l.pack, list);
    });
    for (const [pack, idxs] of byPack) {
      let fh;
      try {
        fh = await open(join(this.dir, 'packs', `${pack}.pack`), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ChunkMissingError(ids[idxs[0]]);
        throw err;
      }
      try {
        for (const i of idxs) {
          const { offset, length } = locs[i];
          const { bytesRead } = await fh.read(views[i], 0, length, offset);
          if (bytesRead !== length) throw new ChunkMissingError(ids[i]);
        }
      } finally {
        await fh.close();
      }
    }
    return new ChunkLease(ids, views, { own: [memory.buffer as ArrayBuffer] });
  }

  async putSnapshot(id: string, time: string, data: Uint8Array): Promise<void> {
    checkName('snapshot', id);
    writeFileAtomicSync(join(this.dir, 'snapshots', `${id}.snap`), data);
    writeFileAtomicSync(join(this.dir, 'snapshots', `${id}.json`), JSON.stringify({ time, size: data.byteLength }));
  }

  async getSnapshot(id: string): Promise<Uint8Array> {
    checkName('snapshot', id);
    return readFile(join(this.dir, 'snapshots', `${id}.snap`));
  }

  async listSnapshots(): Promise<SnapshotInfo[]> {
    return readdirSync(join(this.dir, 'snapshots'))
      .filter((n) => n.endsWith('.json'))
      .map((n) => {
        const meta = JSON.parse(readFileSync(join(this.dir, 'snapshots', n), 'utf8')) as { time: string; size: number };
        return { id: n.slice(0, -5), time: meta.time, size: meta.size };
      });
  }

  async putBlob(name: string, data: Uint8Array): Promise<void> {
    checkName('blob', name);
    writeFileAtomicSync(join(this.dir, 'blobs', name), data);
  }

  async getBlob(name: string): Promise<Uint8Array | undefined> {
    checkName('blob', name);
    try {
      return await readFile(join(this.dir, 'blobs', name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async forgetSnapshots(ids: string[]): Promise<string[]> {
    const deleted: string[] = [];
    for (const id of ids) {
      checkName('snapshot', id);
      const base = join(this.dir, 'snapshots', id);
      try {
        rmSync(`${base}.json`);
      } catch {
        continue;
      }
      rmSync(`${base}.snap`, { force: true });
      deleted.push(id);
    }
    return deleted;
  }

  private pruning: { id: string; live: Set<string> } | undefined;

  async pruneBegin(): Promise<string> {
    this.pruning = { id: randomBytes(8).toString('hex'), live: new Set() };
    return this.pruning.id;
  }

  private prune(pruneId: string): { id: string; live: Set<string> } {
    if (this.pruning?.id !== pruneId) throw Object.assign(new Error(`prune ${pruneId} is not running: begin again`), { code: 'not-found' });
    return this.pruning;
  }

  async pruneLive(pruneId: string, ids: string[]): Promise<void> {
    const p = this.prune(pruneId);
    for (const id of ids) p.live.add(id);
  }

  async pruneSweep(pruneId: string, request: Omit<PruneSweepRequest, 'pruneId'>): Promise<PruneSweepReply> {
    const p = this.prune(pruneId);
    const declared = new Set(request.snapshots);
    const unknown = (await this.listSnapshots()).map((s) => s.id).filter((id) => !declared.has(id));
    if (unknown.length > 0) return { retry: true, snapshots: unknown };
    this.pruning = undefined;
    const stats = await sweepLocal(this.dir, this.index, (id) => p.live.has(id), {
      dryRun: request.dryRun === true,
      maxUnusedPercent: request.maxUnusedPercent ?? 5,
    });
    return { retry: false, epoch: 0, ...stats };
  }

  async close(): Promise<void> {}
}
