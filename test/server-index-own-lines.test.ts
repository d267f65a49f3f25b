// A store skips re-reading index lines it wrote itself, but only while it is the sole writer: lines another
// store (the alternate server) appends before, between or concurrently with its own must still be found,
// each counted once, including after a reopen from disk.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { DeviceStore } from '../server/storage/device-store.js';
import { tempDir } from './helpers/server.js';

const newIds = (n: number): string[] => Array.from({ length: n }, () => randomBytes(32).toString('hex'));

describe('device store: own index lines vs lines from another writer', () => {
  it('interleaved and concurrent appends by two stores: every chunk found by both, counted once', async () => {
    const dir = await tempDir('holdfast-ownlines-');
    const a = await DeviceStore.open(dir);
    const b = await DeviceStore.open(dir);
    const all: string[] = [];
    try {
      for (let round = 0; round < 6; round++) {
        const mine = newIds(20);
        const theirs = newIds(20);
        all.push(...mine, ...theirs);
        const both = [
          a.put(
            mine,
            mine.map(() => randomBytes(100)),
          ),
          b.put(
            theirs,
            theirs.map(() => randomBytes(100)),
          ),
        ];
        // Lookups of the other store's ids run while both appends are in flight.
        const during = Promise.all([a.has(theirs.slice(0, 5)), b.has(mine.slice(0, 5))]);
        await Promise.all(both);
        await during;
        expect((await a.has(theirs)).every(Boolean)).toBe(true);
        expect((await b.has(mine)).every(Boolean)).toBe(true);
        // A sole-writer stretch: a's own lines are skipped, then b appends once more.
        const solo = newIds(10);
        all.push(...solo);
        await a.put(
          solo,
          solo.map(() => randomBytes(100)),
        );
        expect((await b.has(solo)).every(Boolean)).toBe(true);
      }
      expect(a.chunkCount).toBe(all.length);
      expect(b.chunkCount).toBe(all.length);
      expect(a.storedBytes).toBe(all.length * 100);
      expect(b.storedBytes).toBe(all.length * 100);
      const got = await a.locate(all, 1 << 20);
      expect('locs' in got && got.locs.length).toBe(all.length);
      // Every located chunk reads back in full (readInto fails on a pack shorter than the index says).
      if ('locs' in got) await a.readInto(got.locs, Buffer.alloc(all.length * 100), 0);
    } finally {
      await a.close();
      await b.close();
    }
    const reopened = await DeviceStore.open(dir);
    try {
      expect(reopened.chunkCount).toBe(all.length);
      expect((await reopened.has(all)).every(Boolean)).toBe(true);
    } finally {
      await reopened.close();
    }
  });
});
