// The chunk index on disk (server/storage/chunk-index.ts), with tiny in-memory limits so that every path runs:
// flushes to sorted runs, merges, two stores sharing one index log, reopening (adopting the runs of a store that is
// gone), an index log edited behind the server's back, and runs damaged or left half-written by a crash — every
// answer checked against a plain map of what was stored.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { cp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemtableBudget } from '../server/storage/chunk-index.js';
import { DeviceStore } from '../server/storage/device-store.js';
import { tempDir } from './helpers/server.js';

const tiny = () => new MemtableBudget({ flushEntries: 64, totalEntries: 160 });
/** Mostly 64-hex ids (what agents send), some of other lengths (16-128 hex digits are allowed). */
const newId = (i: number) => randomBytes(i % 7 === 0 ? 8 + (i % 50) : 32).toString('hex');

async function check(store: DeviceStore, model: Map<string, number>, label: string): Promise<void> {
  const ids = [...model.keys()];
  const absent = Array.from({ length: 50 }, (_, i) => newId(i));
  const present = await store.has([...ids, ...absent]);
  expect(present.slice(0, ids.length).every(Boolean), `${label}: every stored id found`).toBe(true);
  expect(present.slice(ids.length).some(Boolean), `${label}: no absent id found`).toBe(false);
  const r = await store.locate(ids, 1 << 30);
  if (!('locs' in r)) throw new Error(`${label}: ${r.missing} missing`);
  expect(r.locs.map((l) => l.length)).toEqual(ids.map((id) => model.get(id)));
  const buf = Buffer.alloc(r.locs.reduce((n, l) => n + l.length, 0));
  await store.readInto(r.locs, buf, 0);
  // Chunk i of length n is n bytes of (n & 0xff): check what came back.
  let at = 0;
  for (const l of r.locs) {
    expect(buf.subarray(at, at + l.length).every((b) => b === (l.length & 0xff))).toBe(true);
    at += l.length;
  }
  expect(store.chunkCount, `${label}: count`).toBe(model.size);
  expect(store.storedBytes, `${label}: bytes`).toBe([...model.values()].reduce((a, b) => a + b, 0));
}

async function fill(stores: DeviceStore[], model: Map<string, number>, rounds: number): Promise<void> {
  let n = model.size;
  for (let round = 0; round < rounds; round++) {
    const ids = Array.from({ length: 1 + ((round * 37) % 150) }, () => newId(n++));
    // Some chunks again (duplicates), sometimes the same batch through both stores at once.
    if (model.size) ids.push(...[...model.keys()].slice(0, 5));
    const data = ids.map((id) => {
      const len = model.get(id) ?? 1 + (ids.indexOf(id) % 200);
      return Buffer.alloc(len, len & 0xff);
    });
    const a = stores[round % stores.length];
    const b = stores[(round + 1) % stores.length];
    await Promise.all([a.put(ids, data), round % 4 === 0 ? b.put(ids, data) : Promise.resolve()]);
    ids.forEach((id, i) => {
      if (!model.has(id)) model.set(id, data[i].length);
    });
  }
}

const runFolders = async (dir: string) => readdir(join(dir, 'index.sorted'));

describe('chunk index on disk', () => {
  it('two stores on one index log, through flushes and merges: every chunk found by both, counted once', async () => {
    const dir = await tempDir('holdfast-chunkindex-');
    const budget = tiny();
    const model = new Map<string, number>();
    const a = await DeviceStore.open(dir, budget);
    const b = await DeviceStore.open(dir, budget);
    try {
      await fill([a, b], model, 60);
      await check(a, model, 'a');
      await check(b, model, 'b');
      // Each store keeps its own runs; few of them (merged as they pile up).
      const folders = await runFolders(dir);
      expect(folders).toHaveLength(2);
      for (const f of folders) {
        const runs = (await readdir(join(dir, 'index.sorted', f))).filter((n) => n.endsWith('.idx'));
        expect(runs.length).toBeGreaterThan(0);
        expect(runs.length).toBeLessThanOrEqual(Math.ceil(Math.log2(model.size / 64)) + 2);
      }
    } finally {
      await a.close();
      await b.close();
    }

    // Reopened: the runs of a store that is gone are adopted, the other folder is removed.
    const reopened = await DeviceStore.open(dir, tiny());
    try {
      expect(await runFolders(dir)).toHaveLength(1);
      await check(reopened, model, 'reopened');
      await fill([reopened], model, 10);
      await check(reopened, model, 'reopened, then more');
    } finally {
      await reopened.close();
    }
  });

  it('a folder left by a process that is gone is adopted; a line removed from the log is missing after a restart', async () => {
    const dir = await tempDir('holdfast-chunkindex-');
    const model = new Map<string, number>();
    const store = await DeviceStore.open(dir, tiny());
    await fill([store], model, 30);
    await store.close();
    // As if another server process (long gone: a pid that cannot exist) had left it.
    const [mine] = await runFolders(dir);
    await cp(join(dir, 'index.sorted', mine), join(dir, 'index.sorted', '4194999-deadbeef'), { recursive: true });
    await rm(join(dir, 'index.sorted', mine), { recursive: true });
    const log = join(dir, 'index.log');
    const lines = (await readFile(log, 'latin1')).split('\n').filter(Boolean);
    const victim = lines[3].split(' ')[0];
    await writeFile(log, `${lines.filter((_, i) => i !== 3).join('\n')}\n`);
    model.delete(victim);
    const again = await DeviceStore.open(dir, tiny());
    try {
      expect((await runFolders(dir)).some((f) => f.startsWith('4194999-'))).toBe(false);
      expect(await again.has([victim])).toEqual([false]);
      await check(again, model, 'after the log was edited');
    } finally {
      await again.close();
    }
  });

  it('damaged or half-written runs (a crash mid-flush, a torn file) are dropped and the index is rebuilt from the log', async () => {
    const dir = await tempDir('holdfast-chunkindex-');
    const model = new Map<string, number>();
    const store = await DeviceStore.open(dir, tiny());
    await fill([store], model, 30);
    await store.close();
    const [folder] = await runFolders(dir);
    const path = join(dir, 'index.sorted', folder);
    const runs = (await readdir(path)).filter((n) => n.endsWith('.idx'));
    await writeFile(join(path, 'run-crashed.idx.tmp'), randomBytes(1000));
    await writeFile(join(path, 'run-orphan.idx'), randomBytes(1000));
    await truncate(join(path, runs[0]), 100);
    const again = await DeviceStore.open(dir, tiny());
    try {
      const left = await readdir(join(dir, 'index.sorted', (await runFolders(dir))[0]));
      expect(left).not.toContain('run-crashed.idx.tmp');
      expect(left).not.toContain('run-orphan.idx');
      await check(again, model, 'rebuilt');
    } finally {
      await again.close();
    }
  });
});
