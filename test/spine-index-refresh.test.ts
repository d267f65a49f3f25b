// Two server processes share a device folder (primary and alternate). Each learns the other's chunks by
// re-reading the shared index log; overlapping lookups must not read the same tail twice.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { DeviceStore } from '../server/storage/device-store.js';
import { tempDir } from './helpers/server.js';

describe('device store shared by two servers', () => {
  it('answers many overlapping lookups for chunks the other server stored, without errors', async () => {
    const dir = await tempDir('holdfast-index-');
    const primary = await DeviceStore.open(dir);
    const alternate = await DeviceStore.open(dir);
    try {
      for (let round = 0; round < 5; round++) {
        const ids = Array.from({ length: 200 }, () => randomBytes(32).toString('hex'));
        await alternate.put(
          ids,
          ids.map(() => randomBytes(64)),
        );
        // All lookups start before any refresh finishes: each must see the whole new tail exactly once.
        const answers = await Promise.all(ids.map((id) => primary.has([id])));
        expect(answers.every(([present]) => present)).toBe(true);
        const got = await primary.locate(ids.slice(0, 3), 1 << 20);
        expect('locs' in got && got.locs.map((l) => l.length)).toEqual([64, 64, 64]);
      }
      expect(primary.chunkCount).toBe(1000);
    } finally {
      await primary.close();
      await alternate.close();
    }
  });

  it('reads located chunks straight into one buffer, in the order asked, neighbours in one pack or not', async () => {
    const dir = await tempDir('holdfast-readinto-');
    const store = await DeviceStore.open(dir);
    try {
      const ids = Array.from({ length: 50 }, () => randomBytes(32).toString('hex'));
      const data = ids.map((_, i) => randomBytes(1 + ((i * 7919) % 5000)));
      await store.put(ids.slice(0, 30), data.slice(0, 30));
      await store.put(ids.slice(30), data.slice(30));
      // Back to back, reversed, interleaved, repeated: runs of neighbours and single reads.
      const order = [...ids.keys(), ...[...ids.keys()].reverse(), 3, 40, 4, 41, 5, 5, 49, 0];
      const want = order.map((i) => ids[i]);
      const r = await store.locate(want, 1 << 30);
      if (!('locs' in r)) throw new Error('missing');
      const total = r.locs.reduce((n, l) => n + l.length, 0);
      const out = Buffer.alloc(total + 7, 0xee);
      await store.readInto(r.locs, out, 3);
      expect(out.subarray(3, 3 + total).equals(Buffer.concat(order.map((i) => data[i])))).toBe(true);
      expect(out.subarray(0, 3).equals(Buffer.alloc(3, 0xee)) && out.subarray(3 + total).equals(Buffer.alloc(4, 0xee))).toBe(true);
      // maxBytes stops before the chunk that would pass it (at least one chunk), as get() does.
      const cut = await store.locate(want, data[0].length + data[1].length);
      expect('locs' in cut && cut.locs.length).toBe(2);
      expect(await store.locate([ids[0], 'ab'.repeat(32)], 1 << 30)).toEqual({ missing: 'ab'.repeat(32) });
    } finally {
      await store.close();
    }
  });
});
